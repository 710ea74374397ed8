"""The host's pip, run for one ``%pip install`` in isolation from everything the sandbox wrote.

pip runs in a subprocess as ``python -I -S -X utf8 -c BOOTSTRAP ARGS``:

- ``-I`` ignores ``PYTHON*`` variables and never puts the working directory or a script's
  folder on ``sys.path``; ``-S`` skips ``site``, so no site-packages (and no ``.pth`` file) is
  imported either. The import path is the standard library plus two folders this module
  creates in a private temporary folder: one holding only a link to the host's ``pip``
  package, and one of stub ``.dist-info`` folders (the guest's built-in packages and the
  sandbox's installed ones, written from metadata parsed as data), so pip's resolver counts
  them as installed. The sandbox's site layer itself is never on the path.
- The working directory and ``HOME`` are empty private folders; the environment keeps only
  what pip needs to reach an index the administrator configured (``PATH``, locale, proxies,
  certificates, ``PIP_INDEX_URL``-style settings), nothing else of the kernel's.
- The bootstrap installs an audit hook (``sys.addaudithook``, which cannot be removed) that
  refuses to start any process. pip only starts processes to build from source (a build
  backend, ``setup.py``) or for VCS checkouts, so even a source distribution that reached
  pip some other way (a dependency's direct URL) cannot run. Such attempts are written to a
  file the caller reads to explain the failure. ``distro``'s ``lsb_release``/``uname`` and
  pip's ``rustc --version`` probes (for the User-Agent) are refused quietly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import selectors
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from .errors import PackageError

#: Variables of the kernel's environment pip may see: how to reach the administrator's index.
KEPT_VARIABLES = frozenset({
    "PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC",
    "PIP_CONFIG_FILE", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
    "PIP_NO_INDEX", "PIP_TRUSTED_HOST", "PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY",
    "PIP_TIMEOUT", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES",
})
#: Set for every run, whatever pip's configuration says.
FIXED_VARIABLES = {
    "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PIP_NO_COLOR": "1",
    "PIP_PROGRESS_BAR": "off", "PIP_ONLY_BINARY": ":all:", "PIP_KEYRING_PROVIDER": "disabled",
}
#: Programs pip's User-Agent probes run; refused without counting as a build attempt.
_QUIET_PROGRAMS = ("lsb_release", "uname", "rustc")
#: Audit events that start another program.
_PROCESS_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                   "os.fork", "os.forkpty")

_BOOTSTRAP = """\
import json, os, sys
def _refuse_processes(event, args, _events={events!r}, _quiet={quiet!r}, _log={log!r}):
    if event not in _events:
        return
    argv = []
    if event == 'subprocess.Popen':
        argv = list(args[1]) if isinstance(args[1], (list, tuple)) else [args[1]]
        argv = [args[0]] + argv[1:] if args[0] else argv
    elif event in ('os.exec', 'os.posix_spawn', 'os.spawn'):
        argv = list(args[1]) if len(args) > 1 and isinstance(args[1], (list, tuple)) else [args[0]]
    elif args:
        argv = [args[0]]
    argv = [os.fsdecode(a) if isinstance(a, (bytes, str, os.PathLike)) else str(a) for a in argv]
    program = os.path.basename(argv[0]) if argv else event
    if program not in _quiet:
        with open(_log, 'a', encoding='utf-8') as log:
            log.write(json.dumps({{'event': event, 'argv': argv[:6]}}) + '\\n')
    raise PermissionError('jupyter-sandbox: the host pip may not start programs '
                          '(building from source is refused): ' + program)
sys.addaudithook(_refuse_processes)
sys.path[0:0] = {path!r}
import runpy
runpy.run_module('pip', run_name='__main__', alter_sys=True)
"""


@dataclass(frozen=True)
class StubDistribution:
    """What pip's resolver may know of a package the guest already has: parsed, checked
    fields only, rendered into a stub ``METADATA`` by :class:`PipProcess`."""

    name: str
    version: Version
    requires: tuple[Requirement, ...] = ()
    extras: tuple[str, ...] = ()

    def metadata(self) -> str:
        lines = ["Metadata-Version: 2.1", f"Name: {self.name}", f"Version: {self.version}"]
        lines += [f"Provides-Extra: {extra}" for extra in self.extras]
        lines += [f"Requires-Dist: {requirement}" for requirement in self.requires]
        return "\n".join(lines) + "\n"


def stub_from_fields(name: str, version: str, requires: Iterable[str] = (),
                     extras: Iterable[str] = ()) -> StubDistribution | None:
    """A stub from untrusted metadata fields; None when name or version is not valid.
    Requirements and extras that do not parse are left out, and so are requirements that
    name a URL (pip would fetch it on the host when it keeps the installed package)."""
    try:
        canonicalize_name(name, validate=True)
        parsed_version = Version(version)
    except ValueError:
        return None
    parsed: list[Requirement] = []
    for text in requires:
        try:
            requirement = Requirement(text)
        except ValueError:
            continue
        if requirement.url is None:  # pip would follow a URL of an installed package's
            parsed.append(requirement)
    valid_extras = []
    for extra in extras:
        try:
            valid_extras.append(canonicalize_name(extra, validate=True))
        except ValueError:
            continue
    return StubDistribution(name, parsed_version, tuple(parsed), tuple(valid_extras))


def host_pip_folder() -> Path:
    """The host's ``pip`` package folder (part of the host's Python environment)."""
    spec = importlib.util.find_spec("pip")
    if spec is None or not spec.submodule_search_locations:
        raise PackageError("pip is not installed on the host, so %pip install cannot run; "
                           "install jupyter-sandbox with its dependencies")
    return Path(next(iter(spec.submodule_search_locations)))


class PipProcess:
    """The private folder and settings of the host pip for one ``%pip install``.

    ``work`` is a fresh private temporary folder (the caller's); this class creates its
    ``pip-only``, ``installed``, ``home`` and ``cwd`` folders and runs pip with them.
    """

    def __init__(self, work: Path, installed: Iterable[StubDistribution]) -> None:
        self.work = work
        work.mkdir(mode=0o700)
        pip_only = work / "pip-only"
        pip_only.mkdir()
        (pip_only / "pip").symlink_to(host_pip_folder(), target_is_directory=True)
        stubs = work / "installed"
        stubs.mkdir()
        for dist in installed:
            stem = f"{canonicalize_name(dist.name).replace('-', '_')}-{dist.version}"
            folder = stubs / f"{stem}.dist-info"
            folder.mkdir(exist_ok=True)
            (folder / "METADATA").write_text(dist.metadata(), encoding="utf-8")
        (work / "home").mkdir()
        (work / "cwd").mkdir()
        self._attempts = work / "refused-programs.log"
        self._bootstrap = _BOOTSTRAP.format(events=_PROCESS_EVENTS, quiet=_QUIET_PROGRAMS,
                                            log=str(self._attempts),
                                            path=[str(pip_only), str(stubs)])
        self.environment = self._environment()

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in KEPT_VARIABLES}
        env.update(FIXED_VARIABLES)
        env["HOME"] = str(self.work / "home")
        env.setdefault("PATH", os.defpath)
        return env

    def command(self, args: list[str]) -> list[str]:
        return [sys.executable, "-I", "-S", "-X", "utf8", "-c", self._bootstrap, *args]

    def refused_programs(self) -> list[list[str]]:
        """The command lines pip tried to start so far (a build backend, setup.py, git…)."""
        try:
            text = self._attempts.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        found = []
        for line in text.splitlines():
            try:
                found.append([str(a) for a in json.loads(line)["argv"]])
            except (ValueError, KeyError, TypeError):
                found.append([line])
        return found

    def run(self, args: list[str], output: Callable[[str], None],
            cancelled: Callable[[], bool]) -> tuple[int, list[str]]:
        """Run ``pip ARGS``; each output line goes to ``output`` as it comes. Stops pip when
        ``cancelled()`` turns true (checked at least every 0.2 s)."""
        lines: list[str] = []
        with subprocess.Popen(self.command(args), env=self.environment, cwd=self.work / "cwd",
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) as proc:
            stream = proc.stdout
            if stream is None:
                raise PackageError("pip's output could not be read")
            with selectors.DefaultSelector() as selector:
                selector.register(stream, selectors.EVENT_READ)
                pending = b""
                while True:
                    if cancelled():
                        proc.kill()
                        break
                    if not selector.select(timeout=0.2):
                        continue
                    chunk = os.read(stream.fileno(), 65536)
                    if not chunk:
                        break
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for raw in complete:
                        line = raw.decode("utf-8", "replace").rstrip("\r")
                        lines.append(line)
                        output(line)
                if pending:
                    lines.append(pending.decode("utf-8", "replace"))
                    output(lines[-1])
            status = proc.wait()
        return status, lines
