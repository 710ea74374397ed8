"""What a ``%pip install`` asks for, parsed as untrusted data and rewritten for the host's pip.

Everything here comes from notebook code: the words after ``%pip install`` and the text of the
requirements and constraints files they name (files in the sandbox). None of it reaches the
host's pip as it was typed:

- each requirement is parsed with ``packaging``'s PEP 508 parser and rendered again from the
  parsed object;
- a direct reference (``NAME @ URL``) is kept only when the URL is http(s) and names a
  pure-Python wheel file (``NAME-VERSION-py3-none-any.whl``). pip builds a direct sdist, VCS
  or folder reference whatever ``--only-binary`` says, and building runs the package's own
  code (its ``setup.py`` or build backend) on the host, so those are refused here;
- options are a short allow list; the ones that exist to build (``-e``, ``--config-settings``,
  ``--global-option``…) are refused with the reason;
- index and download locations (``-i``, ``--extra-index-url``, ``-f URL``, direct URLs) are
  accepted only when the administrator's policy lets notebook code choose them
  (:meth:`PackagePolicy.allows_user_indexes`), so a cell cannot make the host fetch arbitrary
  URLs once an administrator has chosen the index.

Local paths (``-r reqs.txt``, ``-f wheels/``, ``./x.whl``) are sandbox paths, read through the
sandbox's files API by the caller.
"""

from __future__ import annotations

import email.parser
import io
import re
import shlex
import urllib.parse
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)

from .errors import COMPILED_REFUSAL, PackageError
from .vfs import normalize
from .wasi_errno import WasiError

#: Reads a guest file (an absolute guest path) -> bytes.
ReadGuestFile = Callable[[str], bytes]

#: Largest requirements or constraints file read from the sandbox.
MAX_REQUIREMENTS_FILE = 1 << 20
#: Largest METADATA read from a wheel in the sandbox.
MAX_WHEEL_METADATA = 4 << 20
#: How deeply requirements files may include each other.
MAX_INCLUDE_DEPTH = 5

#: Endings that make pip read a requirement as a file to install (pip's ARCHIVE_EXTENSIONS).
ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz", ".tar.xz",
                    ".txz", ".tlz", ".tar.lz", ".tar.lzma")
#: Options with a value, by every spelling pip accepts -> the long name.
_VALUE_OPTIONS = {"-r": "--requirement", "--requirement": "--requirement",
                  "-c": "--constraint", "--constraint": "--constraint",
                  "-i": "--index-url", "--index-url": "--index-url",
                  "--extra-index-url": "--extra-index-url",
                  "-f": "--find-links", "--find-links": "--find-links"}
#: Flags on the command line -> the long name.
_FLAGS = {"--no-index": "--no-index", "--pre": "--pre", "--no-deps": "--no-deps",
          "-U": "--upgrade", "--upgrade": "--upgrade", "--force-reinstall": "--upgrade",
          "-q": "--quiet", "--quiet": "--quiet", "-y": "--yes", "--yes": "--yes"}
#: What a requirements or constraints file may say (pip's file format has many more).
_FILE_OPTIONS = {"--requirement", "--constraint", "--index-url", "--extra-index-url",
                 "--find-links", "--no-index", "--pre"}
#: Options whose only use is building from source: refused with that reason.
_BUILD_OPTIONS = {"-e", "--editable", "--global-option", "--build-option", "--install-option",
                  "-C", "--config-settings", "--use-pep517", "--no-use-pep517",
                  "--no-build-isolation", "--no-binary", "--check-build-dependencies"}
_SUPPORTED = ("supported: -r, -c, -i/--index-url, --extra-index-url, -f/--find-links, "
              "--no-index, --pre, --no-deps, -U, -q")
#: Fragments pip understands on a wheel URL that only check it: ``#sha256=HEX``.
_HASH_FRAGMENT = re.compile(r"^(sha256|sha384|sha512)=[0-9a-fA-F]+$")


def _is_pure_tag(tag: Tag) -> bool:
    return tag.abi == "none" and tag.platform == "any" and re.fullmatch(
        r"py[23]\d*", tag.interpreter) is not None


def pure_wheel(filename: str) -> tuple[NormalizedName, str] | None:
    """``(name, version)`` when ``filename`` is a wheel for any Python and platform (every tag
    ``py2``/``py3``-``none``-``any``); None for anything else (compiled wheels, sdists, junk)."""
    try:
        name, version, _build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    if not tags or not all(_is_pure_tag(tag) for tag in tags):
        return None
    return name, str(version)


def wheel_project(filename: str) -> NormalizedName | None:
    """The project a wheel file is for, pure or not; None when it is not a wheel's name."""
    try:
        return parse_wheel_filename(filename)[0]
    except InvalidWheelFilename:
        return None


@dataclass(frozen=True)
class GuestWheel:
    """A wheel file in the sandbox, named on the command line or in a requirements file."""

    guest_path: str
    #: The file's name, checked to be a pure-Python wheel's name.
    filename: str
    name: NormalizedName


@dataclass
class InstallRequest:
    """A ``%pip install`` after parsing: only checked, re-rendered parts."""

    requirements: list[Requirement] = field(default_factory=list)
    wheels: list[GuestWheel] = field(default_factory=list)
    constraints: list[Requirement] = field(default_factory=list)
    #: User-given locations (only when the policy allows them).
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links_urls: list[str] = field(default_factory=list)
    #: Sandbox folders whose pure wheels the caller copies out for pip.
    find_links_folders: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    no_deps: bool = False
    upgrade: bool = False
    quiet: bool = False

    def requested(self) -> list[str]:
        """The names asked for, as given."""
        return [r.name for r in self.requirements] + [w.name for w in self.wheels]


class InstallArguments:
    """Parses ``%pip install`` arguments (and the files they include) into an
    :class:`InstallRequest`, refusing whatever could make the host build, run or fetch
    something notebook code chose."""

    def __init__(self, read_guest: ReadGuestFile, user_locations: bool) -> None:
        self._read_guest = read_guest
        self._user_locations = user_locations

    def parse(self, args: list[str], cwd: str) -> InstallRequest:
        request = InstallRequest()
        self._command_line(args, cwd, request)
        return request

    def check_wheel_dependencies(self, data: bytes, filename: str) -> None:
        """Refuse a wheel from the sandbox whose METADATA names a dependency by URL that a
        requirement given here could not name: pip would fetch it on the host (and build it,
        were it a source archive), so a sandbox-written wheel would get round the rules."""
        for text in url_dependencies(data, filename):
            requirement = Requirement(text)
            self._wheel_url(requirement, text, f"{filename} (a dependency)")

    # -- the command line --------------------------------------------------------------
    def _command_line(self, args: list[str], cwd: str, request: InstallRequest) -> None:
        words = iter(args)
        for word in words:
            option, value = _split_option(word)
            if option is None:
                self._requirement(word, cwd, request, where="", constraint=False)
            elif option in _VALUE_OPTIONS:
                if value is None:
                    value = next(words, None)
                if value is None:
                    raise PackageError(f"pip option {option} needs a value")
                self._value_option(_VALUE_OPTIONS[option], value, cwd, request, "", 0, False)
            elif option in _FLAGS and value is None:
                self._flag(_FLAGS[option], request)
            else:
                raise PackageError(_option_refusal(option, "") +
                                   ("" if option in _BUILD_OPTIONS or option == "--hash"
                                    else f"; {_SUPPORTED}"))

    @staticmethod
    def _flag(flag: str, request: InstallRequest) -> None:
        if flag == "--no-index":
            request.no_index = True
        elif flag == "--pre":
            request.pre = True
        elif flag == "--no-deps":
            request.no_deps = True
        elif flag == "--upgrade":
            request.upgrade = True
        elif flag == "--quiet":
            request.quiet = True

    # -- options with a value ------------------------------------------------------------
    def _value_option(self, option: str, value: str, cwd: str, request: InstallRequest,
                      where: str, depth: int, constraint: bool) -> None:
        if option in ("--requirement", "--constraint"):
            self._include(value, cwd, request, where, depth,
                          constraint or option == "--constraint")
        elif option in ("--index-url", "--extra-index-url"):
            url = self._location_url(option, value, where)
            if option == "--index-url":
                request.index_url = url
            else:
                request.extra_index_urls.append(url)
        elif _looks_like_url(value):
            request.find_links_urls.append(self._location_url(option, value, where))
        else:
            request.find_links_folders.append(_guest_path(value, cwd))

    def _location_url(self, option: str, value: str, where: str) -> str:
        """A user-given index or find-links URL, if the policy allows one."""
        url = _http_url(value)
        if url is None:
            raise PackageError(f"{_at(where)}{option} must be an http(s) URL, got {value!r}"
                               + (" (a folder in the sandbox is given as a path)"
                                  if option == "--find-links" else ""))
        if not self._user_locations:
            raise PackageError(_locked_index(f"{option} {value}", where))
        return url

    def _include(self, value: str, cwd: str, request: InstallRequest, where: str, depth: int,
                 constraint: bool) -> None:
        if depth >= MAX_INCLUDE_DEPTH:
            raise PackageError("requirements files include each other too deeply "
                               f"(more than {MAX_INCLUDE_DEPTH} levels)")
        if _looks_like_url(value):
            raise PackageError(f"{_at(where)}-r/-c take a file in the sandbox, not a URL "
                               f"({value!r}); download the file into the sandbox first")
        path = _guest_path(value, cwd)
        data = self._read_guest(path)
        if len(data) > MAX_REQUIREMENTS_FILE:
            raise PackageError(f"{path} is too large for a requirements file "
                               f"(over {MAX_REQUIREMENTS_FILE >> 20} MiB)")
        folder = path.rpartition("/")[0] or "/"
        for number, line in logical_lines(data.decode("utf-8", "replace")):
            here = f"line {number} of {path}"
            if line.startswith("-"):
                self._file_options(line, folder, request, here, depth + 1, constraint)
            else:
                self._requirement(line, folder, request, where=here, constraint=constraint)

    def _file_options(self, line: str, folder: str, request: InstallRequest, where: str,
                      depth: int, constraint: bool) -> None:
        try:
            words = iter(shlex.split(line))
        except ValueError as exc:
            raise PackageError(f"{where}: cannot be read ({exc})") from exc
        for word in words:
            option, value = _split_option(word)
            long = _VALUE_OPTIONS.get(option or "", _FLAGS.get(option or "", ""))
            if option is None or long not in _FILE_OPTIONS:
                raise PackageError(_option_refusal(option or word, where) + (
                    "" if option in _BUILD_OPTIONS or option == "--hash" else
                    "; a requirements file may use -r, -c, -i/--index-url, --extra-index-url, "
                    "-f/--find-links, --no-index and --pre"))
            if long in _VALUE_OPTIONS.values():
                if value is None:
                    value = next(words, None)
                if value is None:
                    raise PackageError(f"{where}: {option} needs a value")
                self._value_option(long, value, folder, request, where, depth, constraint)
            elif value is None:
                self._flag(long, request)
            else:
                raise PackageError(f"{where}: {option} takes no value")

    # -- requirements ----------------------------------------------------------------------
    def _requirement(self, text: str, cwd: str, request: InstallRequest, where: str,
                     constraint: bool) -> None:
        text = text.strip()
        if "${" in text:
            raise PackageError(f"{_at(where)}{text!r}: ${{...}} variables are not expanded in "
                               "the sandbox (pip would fill them in from the host's "
                               "environment); write the value itself")
        extra = _trailing_option(text)
        if extra:
            raise PackageError(_option_refusal(extra, where))
        if text.endswith(".whl") and "@" not in text and not _looks_like_url(text):
            if constraint:
                raise PackageError(f"{_at(where)}{text!r}: a constraints file names versions, "
                                   "not wheel files")
            request.wheels.append(self._guest_wheel(text, cwd, where))
            return
        if _looks_like_url(text):  # a bare URL: pip would name it from the file
            found = pure_wheel(_url_filename(text))
            if found is None:
                raise PackageError(self._url_refusal(text, text, where))
            text = f"{found[0]} @ {text}"
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise PackageError(_not_a_requirement(text, where, exc)) from exc
        if requirement.name.lower().endswith(ARCHIVE_SUFFIXES):
            # a valid name to packaging, a file path to pip (which would build it if it existed)
            raise PackageError(_not_a_requirement(text, where, None))
        if requirement.url is not None:
            requirement.url = self._wheel_url(requirement, text, where)
        rendered = Requirement(str(requirement))  # what pip gets: rendered from parsed parts
        (request.constraints if constraint else request.requirements).append(rendered)

    def _guest_wheel(self, text: str, cwd: str, where: str) -> GuestWheel:
        path = _guest_path(text, cwd)
        filename = path.rpartition("/")[2]
        found = pure_wheel(filename)
        if found is None:
            project = wheel_project(filename)
            if project is not None:
                raise PackageError(f"{project} {COMPILED_REFUSAL}")
            raise PackageError(f"{_at(where)}{text!r} is not a wheel file name "
                               "(NAME-VERSION-py3-none-any.whl)")
        return GuestWheel(path, filename, found[0])

    def _wheel_url(self, requirement: Requirement, text: str, where: str) -> str:
        """The direct reference of ``requirement``, re-assembled, if it is an http(s) URL of a
        pure-Python wheel for that project (and the policy lets notebook code name URLs)."""
        url = str(requirement.url)
        clean = _http_url(url)
        if clean is None:
            raise PackageError(self._url_refusal(url, text, where))
        parts = urllib.parse.urlsplit(clean)
        if parts.fragment and not _HASH_FRAGMENT.match(parts.fragment):
            raise PackageError(f"{_at(where)}{text!r}: only a #sha256=… fragment is allowed on "
                               "a wheel URL")
        found = pure_wheel(_url_filename(clean))
        if found is None:
            raise PackageError(self._url_refusal(url, text, where))
        if found[0] != canonicalize_name(requirement.name):
            raise PackageError(f"{_at(where)}{text!r}: the wheel at that URL is for {found[0]}, "
                               f"not {requirement.name}")
        if not self._user_locations:
            raise PackageError(_locked_index(text, where))
        return clean

    @staticmethod
    def _url_refusal(url: str, text: str, where: str) -> str:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if "+" in scheme:
            why = ("version-control references are built from source on the host; install a "
                   "released wheel (NAME==VERSION) instead")
        elif scheme not in ("http", "https"):
            why = ("only http(s) URLs of pure-Python wheels can be installed directly; a file "
                   "in the sandbox is given as a path (./NAME-VERSION-py3-none-any.whl)")
        elif wheel_project(_url_filename(url)) is not None:
            return f"{wheel_project(_url_filename(url))} {COMPILED_REFUSAL}"
        else:
            why = ("a direct URL must name a pure-Python wheel (NAME-VERSION-py3-none-any.whl); "
                   "a source distribution would be built on the host, running its code there")
        return f"{_at(where)}{text!r}: {why}"


# -- helpers ---------------------------------------------------------------------------------
def logical_lines(text: str) -> list[tuple[int, str]]:
    """A requirements file's lines as pip reads them (``\\`` continuations joined, comments
    dropped), with their first line numbers; empty lines left out."""
    found: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line = re.sub(r"(^|\s)#.*$", "", pending + raw).strip()
        pending = ""
        if line:
            found.append((start, line))
    if pending.strip():
        found.append((start, re.sub(r"(^|\s)#.*$", "", pending).strip()))
    return [(n, line) for n, line in found if line]


def url_dependencies(data: bytes, filename: str) -> list[str]:
    """The ``Requires-Dist`` entries of a wheel's METADATA that name a URL (read as data)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [i for i in archive.infolist()
                       if re.fullmatch(r"[^/]+\.dist-info/METADATA", i.filename)]
            if len(members) != 1 or members[0].file_size > MAX_WHEEL_METADATA:
                raise PackageError(f"{filename} is not a usable wheel (no single METADATA)")
            text = archive.read(members[0]).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise PackageError(f"{filename} is not a valid wheel file: {exc}") from exc
    headers = email.parser.Parser().parsestr(text, headersonly=True)
    found = []
    for entry in headers.get_all("Requires-Dist") or []:
        try:
            if Requirement(str(entry)).url is not None:
                found.append(str(entry))
        except InvalidRequirement:
            continue
    return found


def constraints_text(constraints: list[Requirement]) -> str:
    """A constraints file for pip, one rendered requirement a line. pip expands ``${VAR}`` and
    reads options in such files, so a line that could carry either is refused."""
    lines = []
    for constraint in constraints:
        line = str(constraint)
        # pip's file parser: " -x" starts options, " #" a comment, "\\" joins lines
        if "${" in line or any(ch in line for ch in "\r\n\x00\\") or line.startswith("-") \
                or re.search(r"\s[-#]", line):
            raise PackageError(f"the constraint {line!r} cannot be passed to pip safely")
        lines.append(line)
    return "\n".join(lines) + "\n"


def _split_option(word: str) -> tuple[str | None, str | None]:
    """``(option, inline value)`` for an option word, ``(None, None)`` for anything else."""
    if not word.startswith("-") or word == "-":
        return None, None
    if word.startswith("--"):
        option, eq, value = word.partition("=")
        return option, value if eq else None
    if len(word) > 2 and word[:2] in _VALUE_OPTIONS:  # -rfile, -ihttp://...
        return word[:2], word[2:]
    return word, None


def _trailing_option(line: str) -> str:
    """A per-requirement option after a requirement (``NAME --hash=…``), or ''."""
    for token in line.split()[1:]:
        if token.startswith("-") and re.match(r"^--?[A-Za-z]", token):
            return token.partition("=")[0]
    return ""


def _option_refusal(option: str, where: str) -> str:
    if option in ("-e", "--editable"):
        return (f"{_at(where)}editable installs (-e) build the project from source on the "
                "host, which would run its code there; the sandbox installs only pure-Python "
                "wheels")
    if option in _BUILD_OPTIONS:
        return (f"{_at(where)}pip option {option} is refused: it only matters when building "
                "from source, which would run the package's code on the host; the sandbox "
                "installs only pure-Python wheels")
    if option == "--hash":
        return (f"{_at(where)}--hash (pip's hash-checking mode) is not supported in the "
                "sandbox; pin versions, or give a wheel URL with #sha256=…")
    if where:
        return f"{where}: option {option} is not allowed in a requirements file in the sandbox"
    return f"pip option {option} is not supported in the sandbox"


def _locked_index(what: str, where: str) -> str:
    return (f"{_at(where)}{what}: the administrator chose the package index for this sandbox, "
            "so notebook code cannot name another index or download URL; install by name "
            "(NAME==VERSION), or from wheel files in the sandbox (-f FOLDER, ./NAME.whl). "
            "An administrator can allow user-given indexes with SandboxKernel.pip_user_indexes")


def _not_a_requirement(text: str, where: str, exc: Exception | None) -> str:
    if exc is None or text.startswith(("/", ".", "~")) or "/" in text.split("@")[0] or \
            text.lower().endswith(ARCHIVE_SUFFIXES):
        return (f"{_at(where)}{text!r}: local folders and source archives are built from "
                "source on the host, which would run their code there; the sandbox installs "
                "only pure-Python wheels (NAME, NAME==VERSION or a .whl file)")
    return (f"{_at(where)}{text!r} is not a requirement pip understands (NAME, NAME==VERSION, "
            f"NAME>=VERSION, NAME @ https://…/NAME-VERSION-py3-none-any.whl): {exc}")


def _looks_like_url(text: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text) is not None and (
        "://" in text or text.lower().startswith("file:"))


def _http_url(value: str) -> str | None:
    """``value`` re-assembled from its parts when it is a plain http(s) URL with a host."""
    if any(ch.isspace() or ord(ch) < 32 for ch in value) or "${" in value:
        return None
    try:
        parts = urllib.parse.urlsplit(value)
        host, _port = parts.hostname, parts.port  # .port raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return urllib.parse.urlunsplit(parts)


def _url_filename(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    return urllib.parse.unquote(path.rstrip("/").rpartition("/")[2])


def _guest_path(value: str, cwd: str) -> str:
    try:
        return normalize(value, cwd)
    except WasiError as exc:
        raise PackageError(f"bad sandbox path {value!r}: {exc}") from exc


def _at(where: str) -> str:
    return f"{where}: " if where else ""
