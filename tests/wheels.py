"""Small wheels built by hand for the ``%pip`` tests (no network, no build backend)."""

from __future__ import annotations

import base64
import io
import tarfile
import hashlib
import zipfile
from pathlib import Path


def build_wheel(folder: Path, name: str, version: str, *, tag: str = "py3-none-any",
                requires: tuple[str, ...] = (), files: dict[str, str] | None = None) -> Path:
    """Write ``{name}-{version}-{tag}.whl`` into ``folder`` with METADATA, WHEEL and RECORD."""
    dist = name.replace("-", "_")
    contents = dict(files or {f"{dist}/__init__.py": f"VERSION = {version!r}\n"})
    info = f"{dist}-{version}.dist-info"
    contents[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                    + "".join(f"Requires-Dist: {r}\n" for r in requires))
    contents[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: jupyter-sandbox-tests\n"
                                 f"Root-Is-Purelib: {'true' if tag.endswith('none-any') else 'false'}\n"
                                 f"Tag: {tag}\n")
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    contents[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in contents.items():
            archive.writestr(member, text)
    return path


def build_test_wheels(folder: Path) -> Path:
    """The wheels every %pip test uses: ``tinybase`` (pure), ``tinytop`` (pure, needs tinybase
    and the built-in numpy), ``oldnumpyuser`` (needs numpy<2), ``fastthing`` (compiled tag only),
    ``padded`` (pure, 256 KiB)."""
    build_wheel(folder, "tinybase", "1.0",
                files={"tinybase/__init__.py": "def greet(who):\n    return f'hello {who}'\n"})
    build_wheel(folder, "tinybase", "2.0",
                files={"tinybase/__init__.py": "def greet(who):\n    return f'HELLO {who}'\n"})
    build_wheel(folder, "tinytop", "1.0", requires=("tinybase>=1.0,<2", "numpy>=1.20"),
                files={"tinytop/__init__.py":
                       "import tinybase, numpy\ndef run():\n    return tinybase.greet('top')\n"})
    build_wheel(folder, "oldnumpyuser", "1.0", requires=("numpy<2",))
    build_wheel(folder, "fastthing", "1.0", tag="cp315-cp315-linux_x86_64")
    build_wheel(folder, "padded", "1.0", files={"padded/__init__.py": "DATA = '"
                                                + "x" * (256 * 1024) + "'\n"})
    return folder


def build_marker_sdist(folder: Path, name: str, version: str, marker: Path) -> Path:
    """A real source distribution ``{name}-{version}.tar.gz`` whose in-tree build backend (and
    ``setup.py``) writes ``marker`` on the host the moment anything imports or runs it: proof
    that a build ran. It needs nothing from an index (``requires = []``)."""
    dist = name.replace("-", "_")
    top = f"{dist}-{version}"
    payload = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('built on the host')\n"
    contents = {
        f"{top}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{top}/pyproject.toml": ('[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                  'backend-path = ["."]\n'),
        f"{top}/backend.py": payload + (
            "def get_requires_for_build_wheel(config_settings=None):\n    return []\n"
            "def prepare_metadata_for_build_wheel(directory, config_settings=None):\n"
            "    raise RuntimeError('marker written')\n"
            "def build_wheel(directory, config_settings=None, metadata_directory=None):\n"
            "    raise RuntimeError('marker written')\n"),
        f"{top}/setup.py": payload,
        f"{top}/{dist}/__init__.py": "",
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, text in contents.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return path
