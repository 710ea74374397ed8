"""The installation's snapshot key and the HMAC that authenticates snapshot files.

A snapshot file can be shared or replaced (a checkpoint folder, a notebook's snapshot folder,
``$JUPYTER_SANDBOX_SNAPSHOT``), so its SHA-256 only proves it is intact, not where it came from.
Every snapshot this installation writes therefore ends with an HMAC-SHA256 under a secret of 32
random bytes kept in a file of mode 0600; a file whose HMAC does not verify is refused unless the
user imports it (``jupyter-sandbox snapshot import``). The runtime knows nothing of Jupyter: the
key file's path comes from ``SandboxConfig.snapshot_key_file`` (the kernel passes one in
Jupyter's data dir), else the jupyter-sandbox data dir below.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import threading
from pathlib import Path

from .errors import SnapshotKeyError

KEY_BYTES = 32
SIGNATURE_BYTES = 32
KEY_FILE_NAME = "snapshot.key"
#: Overrides the jupyter-sandbox data dir (where the runtime's default key lives).
DATA_DIR_ENV = "JUPYTER_SANDBOX_DATA_DIR"

_keys_lock = threading.Lock()
_keys: dict[str, bytes] = {}


def data_dir() -> Path:
    """``$JUPYTER_SANDBOX_DATA_DIR``, else ``$XDG_DATA_HOME/jupyter-sandbox``, else
    ``~/.local/share/jupyter-sandbox``."""
    explicit = os.environ.get(DATA_DIR_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "jupyter-sandbox"


def default_key_path() -> Path:
    """The key used when a sandbox's config names none (and for the machine's base image)."""
    return data_dir() / KEY_FILE_NAME


def load_key(path: Path | None = None) -> bytes:
    """The key in ``path`` (default: ``default_key_path()``), created on first use.

    Creation is atomic: the random bytes are written to a private temporary file (0600) that
    is then hard-linked into place, so two processes starting at once end with one key.
    Raises ``SnapshotKeyError`` for a key of the wrong size, a key others can read, or a folder
    that cannot be written.
    """
    path = Path(path) if path is not None else default_key_path()
    cache_key = os.path.abspath(path)
    with _keys_lock:
        key = _keys.get(cache_key)
        if key is None:
            key = _read_key(path)
            if key is None:
                _create_key(path)
                key = _read_key(path)
            if key is None:
                raise SnapshotKeyError(path, "it vanished while it was being created")
            _keys[cache_key] = key
        return key


def _read_key(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotKeyError(path, f"it cannot be opened ({exc.strerror}; a symlink is "
                               "refused)") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SnapshotKeyError(path, "it is not a regular file")
        if info.st_mode & 0o077:
            raise SnapshotKeyError(path, f"other users may read it (mode "
                                   f"{stat.S_IMODE(info.st_mode):o}); run `chmod 600 {path}`")
        if info.st_uid != os.geteuid():
            raise SnapshotKeyError(path, "it belongs to another user")
        data = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) != KEY_BYTES:
        raise SnapshotKeyError(path, f"it holds {len(data)} bytes instead of {KEY_BYTES}")
    return data


def _create_key(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made the key first: use theirs
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise SnapshotKeyError(path, f"it cannot be created ({exc})") from exc


def sign(key: bytes, data: bytes | memoryview) -> bytes:
    """HMAC-SHA256 of ``data`` under ``key`` (``SIGNATURE_BYTES`` long)."""
    return hmac.new(key, data, hashlib.sha256).digest()


def verify(key: bytes, data: bytes | memoryview, signature: bytes | memoryview) -> bool:
    """True when ``signature`` is ``sign(key, data)`` (compared in constant time)."""
    return hmac.compare_digest(sign(key, data), bytes(signature))


def key_id(key: bytes) -> str:
    """A short public name for a key (files made with different keys never collide), derived
    so that it says nothing about the key itself."""
    return hmac.new(key, b"jupyter-sandbox key id", hashlib.sha256).hexdigest()[:12]
