"""Small wheels built by hand for the ``%pip`` tests (no network, no build backend), a real
source distribution that proves a build ran, and a local package index on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import html
import http.server
import io
import tarfile
import threading
import urllib.parse
import zipfile
from pathlib import Path
from types import TracebackType

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)


def build_wheel(folder: Path, name: str, version: str, *, tag: str = "py3-none-any",
                requires: tuple[str, ...] = (), files: dict[str, str] | None = None) -> Path:
    """Write ``{name}-{version}-{tag}.whl`` into ``folder`` with METADATA, WHEEL and RECORD."""
    dist = name.replace("-", "_")
    contents = dict(files or {f"{dist}/__init__.py": f"VERSION = {version!r}\n"})
    info = f"{dist}-{version}.dist-info"
    contents[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                    + "".join(f"Requires-Dist: {r}\n" for r in requires))
    purelib = "true" if tag.endswith("none-any") else "false"
    contents[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: jupyter-sandbox-tests\n"
                                 f"Root-Is-Purelib: {purelib}\n"
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


def _project_of(filename: str) -> str | None:
    try:
        return parse_wheel_filename(filename)[0]
    except InvalidWheelFilename:
        pass
    try:
        return parse_sdist_filename(filename)[0]
    except InvalidSdistFilename:
        return None


class LocalIndex:
    """PEP 503 "simple" indexes on 127.0.0.1, served from a thread: ``add(prefix, folder)``
    serves ``folder``'s wheels and sdists at ``{url}/{prefix}/simple/`` (files under
    ``{url}/{prefix}/files/``). Every request's path is recorded in ``requests``, answered or
    not, so a test can assert that a URL was never fetched."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._folders: dict[str, Path] = {}
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index.requests.append(self.path)
                status, body, kind = index._answer(urllib.parse.urlsplit(self.path).path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, fmt: str, *args: object) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="local-package-index")

    def add(self, prefix: str, folder: Path) -> str:
        """Serve ``folder`` under ``/{prefix}``; returns the index URL (``…/{prefix}/simple``)."""
        self._folders[prefix] = folder
        return f"{self.url}/{prefix}/simple"

    def fetched(self, prefix: str) -> list[str]:
        """The recorded request paths under ``/{prefix}/``."""
        return [path for path in self.requests if path.startswith(f"/{prefix}/")]

    def _answer(self, path: str) -> tuple[int, bytes, str]:
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        folder = self._folders.get(parts[0]) if parts else None
        if folder is None or len(parts) < 2:
            return 404, b"not found", "text/plain"
        files = sorted(f.name for f in folder.iterdir() if _project_of(f.name))
        if parts[1] == "simple" and len(parts) == 2:
            projects = sorted({str(_project_of(name)) for name in files})
            links = "".join(f'<a href="{p}/">{p}</a>' for p in projects)
            return 200, f"<html><body>{links}</body></html>".encode(), "text/html"
        if parts[1] == "simple" and len(parts) == 3:
            links = "".join(f'<a href="../../files/{html.escape(n)}">{html.escape(n)}</a>'
                            for n in files if _project_of(n) == parts[2])
            return 200, f"<html><body>{links}</body></html>".encode(), "text/html"
        if parts[1] == "files" and len(parts) == 3 and parts[2] in files:
            return 200, (folder / parts[2]).read_bytes(), "application/octet-stream"
        return 404, b"not found", "text/plain"

    def __enter__(self) -> LocalIndex:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
