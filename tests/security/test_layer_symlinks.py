"""Issue 12, item 4 (second bullet): a symlink planted in a writable layer is harmless.

A crafted snapshot, an administrator's mistake or a racing host process can leave symlinks in a
sandbox's private folders on the host (``{state_dir}/workspace``, ``/tmp``, ``user-site``),
pointing at host files and folders outside. Here they are planted directly on the host, next to
a real running sandbox, and then notebook code (open/read/write/stat/listdir/rename/unlink/utime
through ``/workspace/…``, ``/tmp/…`` and the user-site folder) and the host files API
(``sandbox.files``, and the kernel's REST files routes of a real ``jupyter server``) try to use
them. Nothing outside is read or changed (content, mtimes, folder listing); the guest gets EACCES.
"""

from __future__ import annotations

import json
import os
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_sandbox.runtime import openat2
from jupyter_sandbox.runtime.config import SandboxConfig
from jupyter_sandbox.runtime.errors import SandboxError
from jupyter_sandbox.runtime.packages import USER_SITE_GUEST_PATH
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.server.conftest import Kernel

SECRET = b"host secret: never to be read by the sandbox"
#: The writable layers: guest folder -> its folder under the sandbox's state dir.
LAYERS = {"/workspace": "workspace", "/tmp": "tmp", USER_SITE_GUEST_PATH: "user-site"}


def host_state(folder: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Every entry under ``folder``: content (None for a folder), mtime and size."""
    state = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        state[str(path.relative_to(folder))] = (
            None if path.is_dir() else path.read_bytes(), st.st_mtime_ns, st.st_size)
    return state


def make_outside(base: Path) -> Path:
    outside = base / "outside"
    (outside / "inner").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(SECRET)
    (outside / "inner" / "deep.txt").write_bytes(SECRET)
    for path in (outside / "secret.txt", outside / "inner" / "deep.txt"):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    return outside


def plant(upper: Path, outside: Path) -> None:
    """What a hostile state folder holds: links out, absolute and relative, to a file and to a
    folder, and even a link that stays inside (an upper layer follows none)."""
    os.symlink(outside / "secret.txt", upper / "abs-file")
    os.symlink(outside, upper / "abs-dir")
    os.symlink(os.path.relpath(outside / "secret.txt", upper), upper / "rel-file")
    os.symlink(os.path.relpath(outside, upper), upper / "rel-dir")
    os.symlink("/proc/self/root" + str(outside / "secret.txt"), upper / "magic")
    (upper / "own").mkdir(exist_ok=True)
    (upper / "own" / "mine.txt").write_bytes(b"mine")
    os.symlink("own", upper / "inner-dir")


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The sandbox's layers resolve through openat2, or through the walk used without it."""
    if request.param == "openat2":
        if not openat2.available():
            pytest.skip("openat2 is not usable on this machine")
    else:
        monkeypatch.setattr(openat2, "available", lambda: False)
    return request.param


@pytest.fixture
def planted(tmp_path: Path, resolver: str) -> Iterator[tuple[Sandbox, Path, Path]]:
    """A running sandbox whose three writable layers hold planted links to ``outside``."""
    outside = make_outside(tmp_path)
    state = tmp_path / "state"
    with Sandbox(SandboxConfig(state_dir=state)) as sandbox:
        layers = [mount for mount in sandbox.vfs.mounts if mount.writable]
        assert {m.upper_layer.uses_openat2 for m in layers} == {resolver == "openat2"}
        for folder in LAYERS.values():
            plant(state / folder, outside)
        yield sandbox, state, outside


GUEST_ATTACK = r"""
import errno, json, os, shutil
outcome = {}
def attempt(name, action):
    try:
        result = action()
        done = result is None or isinstance(result, (int, bool))
        outcome[name] = 'DONE' if done else repr(result)[:60]
    except OSError as exc:
        outcome[name] = errno.errorcode.get(exc.errno, str(exc.errno))
def read(p):
    with open(p, 'rb') as f:
        return f.read()
def write(p, mode='wb'):
    with open(p, mode) as f:
        f.write(b'stolen')
for root in ROOTS:
    for link in ('abs-file', 'rel-file', 'magic', 'abs-dir', 'rel-dir', 'inner-dir'):
        p = f'{root}/{link}'
        attempt(f'{p} read', lambda: read(p))
        attempt(f'{p} write', lambda: write(p))
        attempt(f'{p} append', lambda: write(p, 'ab'))
        attempt(f'{p} r+', lambda: write(p, 'r+b'))
        attempt(f'{p} stat', lambda: os.stat(p).st_size)
        attempt(f'{p} lstat', lambda: os.lstat(p).st_size)
        attempt(f'{p} truncate', lambda: os.truncate(p, 0))
        attempt(f'{p} utime', lambda: os.utime(p, (0, 0)))
        attempt(f'{p} rename', lambda: os.rename(p, f'{root}/moved'))
        attempt(f'{p} copy', lambda: shutil.copy(p, f'{root}/copy'))
        attempt(f'{p} listdir', lambda: os.listdir(p))
        attempt(f'{p} rmdir', lambda: os.rmdir(p))
        for leaf in ('secret.txt', 'mine.txt', 'inner'):
            q = f'{p}/{leaf}'
            attempt(f'{q} read', lambda: read(q))
            attempt(f'{q} write', lambda: write(q))
            attempt(f'{q} stat', lambda: os.stat(q).st_size)
            attempt(f'{q} utime', lambda: os.utime(q, (0, 0)))
            attempt(f'{q} rename', lambda: os.rename(q, f'{root}/stolen'))
            attempt(f'{q} unlink', lambda: os.unlink(q))
            attempt(f'{q} rmdir', lambda: os.rmdir(q))
            attempt(f'{q} listdir', lambda: os.listdir(q))
        attempt(f'{p}/new.txt create', lambda: write(f'{p}/new.txt', 'xb'))
        attempt(f'{p}/newdir mkdir', lambda: os.mkdir(f'{p}/newdir'))
    # Replacing a link's name with a file of our own, through rename, is refused too.
    write(f'{root}/own.txt')
    attempt(f'{root}/own.txt replace abs-file',
            lambda: os.replace(f'{root}/own.txt', f'{root}/abs-file'))
    outcome[f'{root} listing'] = sorted(os.listdir(root))
print(json.dumps(outcome))
"""

LINKS = ["abs-dir", "abs-file", "inner-dir", "magic", "own", "rel-dir", "rel-file"]


def run_guest(sandbox: Sandbox, code: str) -> object:
    messages: list[dict] = []
    reply = sandbox.execute(code, messages.append)
    out = "".join(m["content"]["text"] for m in messages
                  if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")
    assert reply.status == "ok", "\n".join(reply.traceback)
    return json.loads(out.strip().splitlines()[-1])


def test_guest_code_can_neither_read_nor_write_through_planted_links(planted) -> None:
    sandbox, state, outside = planted
    before = host_state(outside)
    code = f"ROOTS = {sorted(LAYERS)!r}\n" + GUEST_ATTACK
    outcome = run_guest(sandbox, code)
    listings = {key: outcome.pop(key) for key in list(outcome) if key.endswith(" listing")}
    assert {key: value for key, value in outcome.items() if value != "EACCES"} == {}
    for root, listing in listings.items():
        # The links are still there (listing a folder never follows them) beside the guest's
        # own file, and nothing was created or moved next to them.
        own = [name for name in listing if not name.startswith(".")]  # /tmp/.ipython, …
        assert own == sorted([*LINKS, "own.txt"]), (root, listing)
    assert host_state(outside) == before


def test_guest_unlink_removes_the_link_itself(planted) -> None:
    sandbox, state, outside = planted
    before = host_state(outside)
    outcome = run_guest(sandbox, textwrap.dedent("""
        import json, os
        os.unlink('/workspace/abs-file')
        os.remove('/tmp/abs-dir')  # a link to a folder is removed as the link it is
        print(json.dumps([os.path.lexists('/workspace/abs-file'), os.path.lexists('/tmp/abs-dir')]))
    """))
    assert outcome == [False, False]
    assert not os.path.lexists(state / "workspace" / "abs-file")
    assert not os.path.lexists(state / "tmp" / "abs-dir")
    assert host_state(outside) == before


def test_host_files_api_can_neither_read_nor_write_through_planted_links(planted) -> None:
    sandbox, state, outside = planted
    before = host_state(outside)
    files = sandbox.files
    for link in ("abs-file", "rel-file", "magic", "abs-dir/secret.txt", "rel-dir/inner/deep.txt",
                 "inner-dir/mine.txt"):
        path = f"/workspace/{link}"
        with pytest.raises(SandboxError, match="leaves the sandbox"):
            files.read_bytes(path)
        with pytest.raises(SandboxError, match="leaves the sandbox"):
            files.write_bytes(path, b"stolen")
        with pytest.raises(SandboxError, match="leaves the sandbox"):
            files.stat(path)
        with pytest.raises(SandboxError, match="leaves the sandbox"):
            files.move(path, "/workspace/stolen")
    for folder in ("abs-dir", "rel-dir", "inner-dir"):
        with pytest.raises(SandboxError, match="leaves the sandbox"):
            files.list(f"/workspace/{folder}")
        with pytest.raises(SandboxError, match="leaves the sandbox"):
            files.write_bytes(f"/workspace/{folder}/new.txt", b"stolen")
        with pytest.raises(SandboxError, match="leaves the sandbox"):
            files.mkdir(f"/workspace/{folder}/new", parents=True)
        with pytest.raises(SandboxError, match="leaves the sandbox"):
            files.delete(f"/workspace/{folder}/secret.txt")
    # The folder still lists: the links are left out (they have no kind or size to show).
    assert sorted(info.name for info in files.list("/workspace")) == ["own"]
    assert host_state(outside) == before
    # Deleting removes the links themselves, also inside a folder deleted recursively.
    os.symlink(outside, state / "workspace" / "own" / "nested-link")
    files.delete("/workspace/abs-file")
    files.delete("/workspace/abs-dir")
    files.delete("/workspace/own", recursive=True)
    assert sorted(os.listdir(state / "workspace")) == ["inner-dir", "magic", "rel-dir", "rel-file"]
    assert host_state(outside) == before


# -- the same through a real jupyter server's REST routes ---------------------------------------

def find_state_dir(kernel: Kernel) -> Path:
    """The kernel's private state folder on the host, found by a file the guest writes."""
    marker = f"find-me-{uuid.uuid4().hex}"
    kernel.run(f"open('/workspace/{marker}', 'w').close()")
    found = list(Path(tempfile.gettempdir()).glob(f"jupyter-sandbox-*/workspace/{marker}"))
    assert len(found) == 1, found
    return found[0].parent.parent


def test_rest_files_routes_refuse_planted_links(kernel: Kernel, tmp_path: Path) -> None:
    outside = make_outside(tmp_path)
    state = find_state_dir(kernel)
    folder = f"rest-{uuid.uuid4().hex[:8]}"
    (state / "workspace" / folder).mkdir()
    plant(state / "workspace" / folder, outside)
    before = host_state(outside)
    base = f"sandbox/api/kernels/{kernel.id}/files/{folder}"
    with kernel.server.client() as http:
        for link in ("abs-file", "rel-file", "abs-dir/secret.txt", "rel-dir/inner/deep.txt"):
            got = http.get(f"{base}/{link}")
            assert got.status_code == 400, (link, got.status_code, got.text)
            assert SECRET not in got.content
            put = http.put(f"{base}/{link}", content=b"stolen")
            assert put.status_code == 400, (link, put.status_code, put.text)
        put = http.put(f"{base}/abs-dir/new.txt", content=b"stolen")
        assert put.status_code == 400, put.text
        listed = http.get(f"{base}/abs-dir?list")
        assert listed.status_code == 400, listed.text
        listing = http.get(f"{base}?list")
        assert listing.status_code == 200, listing.text
        assert [entry["name"] for entry in listing.json()["files"]] == ["own"]
    assert host_state(outside) == before
    # And the guest of that kernel meets the same links with EACCES.
    out = kernel.stdout(textwrap.dedent(f"""
        import errno
        try:
            open('/workspace/{folder}/abs-file').read()
        except OSError as exc:
            print(errno.errorcode[exc.errno])
    """))
    assert out.strip() == "EACCES"
    assert host_state(outside) == before
