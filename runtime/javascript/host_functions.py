"""The host side of the ``node`` globals: output, text encodings, ``fs`` over the sandbox's VFS.

The prelude (prelude.js) calls one host function, ``__sandbox_host(op, ...args)``. Each ``op``
here takes plain values (strings, numbers, bytes) and answers a value, a JSON-able dict, or
``{"__error": {...}}`` that the prelude turns into a Node-style ``Error`` with ``code``
(``ENOENT``, ``EDQUOT``…), ``syscall`` and ``path``. Nothing here touches the host outside the
VFS: paths are normalised against the process's cwd and resolved by ``VirtualFS``, which has its
own root and quotas; files are read with a size bound.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from typing import Any

from ..vfs import FILETYPE_DIRECTORY, FILETYPE_REGULAR, VirtualFS, normalize
from ..wasi_errno import Errno, WasiError, from_os_error
from .limits import RunGuard
from .quickjs import UNDEFINED, JSValue

#: Node's message for each error code, as in ``ENOENT: no such file or directory, open 'x'``.
_MESSAGES = {
    Errno.NOENT: "no such file or directory",
    Errno.EXIST: "file already exists",
    Errno.NOTDIR: "not a directory",
    Errno.ISDIR: "illegal operation on a directory",
    Errno.NOTEMPTY: "directory not empty",
    Errno.ACCES: "permission denied",
    Errno.PERM: "operation not permitted",
    Errno.ROFS: "read-only file system",
    Errno.DQUOT: "disk quota exceeded (the sandbox's storage quota is full)",
    Errno.NOSPC: "no space left on device",
    Errno.NAMETOOLONG: "name too long",
    Errno.INVAL: "invalid argument",
    Errno.NOMEM: "not enough memory (the file is more than half the JavaScript memory limit)",
}
_STDIN_PATHS = ("/dev/stdin",)
#: Names of the encodings ``Buffer``/``TextDecoder`` accept, onto Python codecs.
_ENCODINGS = {"utf8": "utf-8", "utf-8": "utf-8", "latin1": "latin-1", "binary": "latin-1",
              "ascii": "ascii", "utf16le": "utf-16-le", "utf-16le": "utf-16-le",
              "ucs2": "utf-16-le", "ucs-2": "utf-16-le"}


def _error(errno: Errno, syscall: str, path: str) -> dict[str, Any]:
    code = "E" + errno.name
    text = _MESSAGES.get(errno, errno.name.lower())
    return {"__error": {"code": code, "message": f"{code}: {text}, {syscall} '{path}'",
                        "syscall": syscall, "path": path, "errno": -int(errno)}}


def encode(text: str, encoding: str) -> bytes:
    enc = encoding.lower()
    if enc == "hex":
        return bytes.fromhex("".join(text.split())) if len(text) % 2 == 0 else b""
    if enc in ("base64", "base64url"):
        padded = text.replace("-", "+").replace("_", "/")
        padded += "=" * (-len(padded) % 4)
        try:
            return base64.b64decode(padded)
        except (binascii.Error, ValueError):
            return b""
    codec = _ENCODINGS.get(enc)
    if codec is None:
        raise ValueError(f"Unknown encoding: {encoding}")
    if codec == "latin-1":
        return bytes(ord(c) & 0xFF for c in text)
    return text.encode(codec, "replace" if codec == "ascii" else "surrogatepass")


def decode(data: bytes, encoding: str) -> str:
    enc = encoding.lower()
    if enc == "hex":
        return data.hex()
    if enc == "base64":
        return base64.b64encode(data).decode()
    if enc == "base64url":
        return base64.urlsafe_b64encode(data).decode().rstrip("=")
    codec = _ENCODINGS.get(enc)
    if codec is None:
        raise ValueError(f"Unknown encoding: {encoding}")
    if codec == "ascii":
        return bytes(b & 0x7F for b in data).decode("ascii")
    return data.decode(codec, "replace")


class NodeHost:
    """Answers the prelude's host calls for one run."""

    def __init__(self, *, vfs: VirtualFS, cwd: str, stdin: Callable[[], bytes],
                 write: Callable[[str, bytes], None], guard: RunGuard,
                 read_limit: int) -> None:
        self._vfs = vfs
        self._cwd = cwd
        self._stdin = stdin
        self._write = write
        self._guard = guard
        self._read_limit = read_limit
        self._ops: dict[str, Callable[..., Any]] = {
            "write": self.write, "encode": self.encode, "decode": self.decode,
            "exit": self.exit, "sleep": self.sleep,
            "readFile": self.read_file, "writeFile": self.write_file, "exists": self.exists,
            "readdir": self.readdir, "mkdir": self.mkdir, "stat": self.stat,
            "unlink": self.unlink, "rmdir": self.rmdir, "rename": self.rename,
            "resolve": self.resolve,
        }

    def __call__(self, name: str, args: list[JSValue]) -> Any:
        if self._guard.reason is not None:
            return UNDEFINED  # stopping (exit, cancel, time limit): no more effects
        if not args or not isinstance(args[0], str) or args[0] not in self._ops:
            return {"__error": {"code": "ERR_INVALID_ARG_VALUE", "message":
                                f"unknown sandbox operation {args[0] if args else None!r}"}}
        op = args[0]
        try:
            return self._ops[op](*args[1:])
        except (TypeError, ValueError) as exc:
            return {"__error": {"code": "ERR_INVALID_ARG_TYPE", "message": str(exc)}}

    # -- process ------------------------------------------------------------------------
    def write(self, stream: str, data: str | bytes) -> Any:
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"no stream {stream!r}")
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
        if raw:
            self._write(stream, raw)
        return UNDEFINED

    def exit(self, code: int | float | None = 0) -> Any:
        """``process.exit``: the guard makes QuickJS's next interrupt poll (the prelude spins
        into one at once) throw an uncatchable error, so no more JS runs."""
        self._guard.mark_exited(int(code or 0) & 0xFF)
        return UNDEFINED

    def sleep(self, ms: int | float) -> bool:
        return self._guard.sleep(float(ms) / 1000)

    def encode(self, text: str, encoding: str = "utf8") -> bytes:
        return encode(text, encoding)

    def decode(self, data: bytes, encoding: str = "utf8") -> str:
        return decode(data if isinstance(data, bytes) else str(data).encode(), encoding)

    # -- paths --------------------------------------------------------------------------
    def resolve(self, path: str) -> str:
        return normalize(str(path), self._cwd)

    def _path(self, path: Any) -> str:
        if not isinstance(path, str):
            raise TypeError('The "path" argument must be of type string')
        return normalize(path, self._cwd)

    def _fs(self, syscall: str, path: str, action: Callable[[str], Any]) -> Any:
        try:
            guest_path = self._path(path)
            return action(guest_path)
        except WasiError as exc:
            return _error(exc.errno, syscall, str(path))
        except OSError as exc:
            return _error(from_os_error(exc).errno, syscall, str(path))

    # -- fs -----------------------------------------------------------------------------
    def read_file(self, path: str | int) -> Any:
        if path == 0 or path in _STDIN_PATHS:
            return self._read_stdin()
        return self._fs("open", path, self._read_vfs_file)  # type: ignore[arg-type]

    def _read_stdin(self) -> Any:
        chunks, total = [], 0
        while chunk := self._stdin():
            total += len(chunk)
            if total > self._read_limit:
                return _error(Errno.NOMEM, "read", "/dev/stdin")
            chunks.append(chunk)
        return b"".join(chunks)

    def _read_vfs_file(self, guest_path: str) -> bytes | dict[str, Any]:
        if self._vfs.is_dir(guest_path):
            raise WasiError(Errno.ISDIR)
        fd, _mount = self._vfs.open_file(guest_path, write=False, create=False,
                                         exclusive=False, truncate=False)
        try:
            if os.fstat(fd).st_size > self._read_limit:
                raise WasiError(Errno.NOMEM)
            chunks, total = [], 0
            while chunk := os.read(fd, 1 << 20):
                total += len(chunk)
                if total > self._read_limit:
                    raise WasiError(Errno.NOMEM)
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def write_file(self, path: str, data: str | bytes, encoding: str = "utf8",
                   append: bool = False) -> Any:
        raw = encode(data, encoding) if isinstance(data, str) else bytes(data)

        def action(guest_path: str) -> None:
            content = raw
            if append:
                try:
                    old = self._read_vfs_file(guest_path)
                except WasiError as exc:
                    if exc.errno != Errno.NOENT:
                        raise
                else:
                    content = bytes(old) + raw  # type: ignore[arg-type]
            self._vfs.write_file(guest_path, content)

        return self._fs("open", path, action)

    def exists(self, path: str) -> bool:
        try:
            self._vfs.stat(self._path(path))
            return True
        except (WasiError, OSError, TypeError):
            return False

    def readdir(self, path: str) -> Any:
        return self._fs("scandir", path, self._vfs.listdir)

    def mkdir(self, path: str, recursive: bool = False) -> Any:
        def action(guest_path: str) -> str | None:
            if not recursive:
                self._vfs.mkdir(guest_path)
                return None
            first: str | None = None
            parts = [p for p in guest_path.split("/") if p]
            for i in range(1, len(parts) + 1):
                step = "/" + "/".join(parts[:i])
                try:
                    is_dir = self._vfs.is_dir(step)
                except WasiError as exc:
                    if exc.errno != Errno.NOENT:
                        raise
                    self._vfs.mkdir(step)
                    first = first or step
                    continue
                if not is_dir:
                    raise WasiError(Errno.EXIST if i == len(parts) else Errno.NOTDIR)
            return first

        return self._fs("mkdir", path, action)

    def stat(self, path: str) -> Any:
        def action(guest_path: str) -> dict[str, Any]:
            st = self._vfs.stat(guest_path)
            return {"type": ("dir" if st.filetype == FILETYPE_DIRECTORY else
                             "file" if st.filetype == FILETYPE_REGULAR else "other"),
                    "size": st.size, "mtimeMs": st.mtime_ns / 1e6, "atimeMs": st.atime_ns / 1e6,
                    "ctimeMs": st.ctime_ns / 1e6, "ino": st.ino, "nlink": st.nlink}

        return self._fs("stat", path, action)

    def unlink(self, path: str) -> Any:
        return self._fs("unlink", path, self._vfs.unlink)

    def rmdir(self, path: str) -> Any:
        return self._fs("rmdir", path, self._vfs.rmdir)

    def rename(self, src: str, dst: str) -> Any:
        return self._fs("rename", src, lambda guest_src: self._vfs.rename(guest_src,
                                                                          self._path(dst)))
