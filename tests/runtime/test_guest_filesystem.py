"""The filesystem, clocks, randomness and I/O as guest code sees them, through a real Sandbox."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest

from jupyter_sandbox.runtime.config import HostFolderMode, Limits, SandboxConfig
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import stream_text


def run_ok(run, code: str, sandbox: Sandbox | None = None) -> str:
    """Run ``code`` (dedented); fail with the guest's traceback unless it succeeds; return
    stdout."""
    reply, messages = run(textwrap.dedent(code), sandbox=sandbox)
    assert reply.status == "ok", "\n".join(reply.traceback) + stream_text(messages, "stderr")
    return stream_text(messages)


def run_json(run, code: str, sandbox: Sandbox | None = None):
    """Run ``code``, whose last stdout line is JSON; return it decoded."""
    return json.loads(run_ok(run, code, sandbox).strip().splitlines()[-1])


@pytest.fixture
def folder(shared_sandbox: Sandbox) -> str:
    """A fresh folder in the shared sandbox. The tests ``os.chdir`` into it: afterwards the
    guest goes back to /workspace, so no later test runs in a deleted working directory."""
    name = f"/workspace/guest-fs-{uuid.uuid4().hex[:8]}"
    shared_sandbox.files.mkdir(name)
    yield name
    assert shared_sandbox.execute("import os; os.chdir('/workspace')").status == "ok"
    shared_sandbox.files.delete(name, recursive=True)


# -- confinement ------------------------------------------------------------------------------

def test_host_files_are_out_of_reach(run) -> None:
    result = run_json(run, """
        import os, json
        os.chdir('/workspace')
        outcome = {}
        for path in ['/etc/passwd', '../../../etc/passwd', '/proc/self/environ',
                     '/workspace/../../etc/hostname', '/root']:
            try:
                open(path).read()
                outcome[path] = 'READ'
            except OSError as exc:
                outcome[path] = type(exc).__name__
        print(json.dumps(outcome))
    """)
    assert result == {
        "/etc/passwd": "FileNotFoundError",
        "../../../etc/passwd": "FileNotFoundError",
        "/proc/self/environ": "FileNotFoundError",
        "/workspace/../../etc/hostname": "FileNotFoundError",
        "/root": "FileNotFoundError",
    }


def test_root_shows_only_the_mounts(run) -> None:
    result = run_json(run, """
        import os, json
        print(json.dumps([sorted(os.listdir('/')), sorted(os.listdir('/usr/local/lib')),
                          os.path.realpath('/workspace/../../..')]))
    """)
    assert result == [["tmp", "usr", "workspace"], ["jupyter-sandbox", "python315.zip"], "/"]


def test_links_cannot_be_made(run, folder: str) -> None:
    result = run_json(run, f"""
        import os, json, errno
        os.chdir({folder!r})
        open('target', 'w').close()
        outcome = []
        for make in (lambda: os.symlink('/etc/passwd', 'abs'),
                     lambda: os.symlink('../../../etc/passwd', 'rel'),
                     lambda: os.link('target', 'hard')):
            try:
                make()
                outcome.append('MADE')
            except OSError as exc:
                outcome.append(errno.errorcode[exc.errno])
        outcome.append(sorted(os.listdir('.')))
        print(json.dumps(outcome))
    """)
    assert result == ["ENOTSUP", "ENOTSUP", "ENOTSUP", ["target"]]


def test_read_only_places_refuse_writes(run) -> None:
    result = run_json(run, """
        import os, json, errno, sys
        outcome = {}
        def attempt(name, action):
            try:
                action()
                outcome[name] = 'DONE'
            except OSError as exc:
                outcome[name] = errno.errorcode[exc.errno]
        attempt('write zip', lambda: open('/usr/local/lib/python315.zip', 'r+b'))
        attempt('append zip', lambda: open('/usr/local/lib/python315.zip', 'ab'))
        attempt('delete zip', lambda: os.remove('/usr/local/lib/python315.zip'))
        attempt('rename zip', lambda: os.rename('/usr/local/lib/python315.zip', '/tmp/z.zip'))
        attempt('new lib file', lambda: open('/usr/local/lib/evil.py', 'w'))
        attempt('new root folder', lambda: os.mkdir('/etc'))
        attempt('package file', lambda: open('/usr/local/lib/jupyter-sandbox/guest/x.py', 'w'))
        import IPython
        attempt('overwrite IPython', lambda: open(IPython.__file__, 'a'))
        attempt('delete IPython', lambda: os.remove(IPython.__file__))
        attempt('remove /workspace', lambda: os.rmdir('/workspace'))
        print(json.dumps(outcome))
    """)
    assert result == {
        "write zip": "EROFS", "append zip": "EROFS", "delete zip": "EROFS",
        "rename zip": "EROFS", "new lib file": "EROFS", "new root folder": "EROFS",
        "package file": "EROFS", "overwrite IPython": "EROFS", "delete IPython": "EROFS",
        "remove /workspace": "EROFS",
    }


def test_sockets_fail_cleanly(run) -> None:
    """With the network off (the default) a socket is refused with a PermissionError that
    says who can turn it on, and the session goes on."""
    result = run_json(run, """
        import json, socket
        try:
            socket.socket()
            outcome = ['OPENED', '']
        except OSError as exc:
            outcome = [type(exc).__name__, str(exc)]
        print(json.dumps([outcome, 1 + 1]))
    """)
    (name, message), two = result
    assert (name, two) == ("PermissionError", 2)
    assert "SandboxKernel.network" in message


def test_invalid_utf8_on_stdout_does_not_break_the_host(run) -> None:
    reply, messages = run("import os\nos.write(1, b'ok \\xff\\xfe end\\n'); os.write(2, b'\\xc3')\n"
                          "os.write(2, b'\\xa9\\n'); print('after')")
    assert reply.status == "ok"
    assert stream_text(messages) == "ok \ufffd\ufffd end\nafter\n"
    assert stream_text(messages, "stderr") == "é\n"  # a split UTF-8 sequence is joined


# -- quota inside the guest --------------------------------------------------------------------

def test_quota_raises_in_the_guest_and_the_session_goes_on(tmp_path: Path, run) -> None:
    config = SandboxConfig(limits=Limits(workspace_bytes=2 << 20), state_dir=tmp_path / "state")
    with Sandbox(config) as sandbox:
        result = run_json(run, """
            import errno, json, os
            kept = 'still here'
            outcome = []
            try:
                with open('/workspace/big.bin', 'wb') as f:
                    for _ in range(64):
                        f.write(b'x' * (64 << 10))
                outcome.append('WROTE')
            except OSError as exc:
                outcome.append(errno.errorcode[exc.errno])
            outcome.append(os.path.getsize('/workspace/big.bin') <= 2 << 20)
            try:
                os.truncate('/workspace/big.bin', 10 << 20)
                outcome.append('GREW')
            except OSError as exc:
                outcome.append(errno.errorcode[exc.errno])
            os.remove('/workspace/big.bin')
            with open('/workspace/small.bin', 'wb') as f:
                f.write(b'y' * (1 << 20))
            print(json.dumps(outcome))
        """, sandbox)
        assert result[0] in ("EDQUOT", "ENOSPC")
        assert result[1:] == [True, result[0]]
        assert run_ok(run, "print(kept, os.path.getsize('/workspace/small.bin'))", sandbox) \
            == f"still here {1 << 20}\n"
        assert sandbox.usage().workspace_bytes < 2 << 20
        assert not (tmp_path / "state" / "workspace" / "big.bin").exists()


def test_unlinked_open_files_give_their_quota_back(tmp_path: Path, run) -> None:
    # tempfile.TemporaryFile creates, unlinks, then writes: the bytes count while it is open
    # and are given back when it closes.
    config = SandboxConfig(limits=Limits(workspace_bytes=4 << 20), state_dir=tmp_path / "state")
    with Sandbox(config) as sandbox:
        before = sandbox.usage().workspace_bytes
        result = run_json(run, """
            import errno, json, os, tempfile
            out = []
            for _ in range(8):
                with tempfile.TemporaryFile() as f:
                    f.write(b'x' * (1 << 20))
                    f.truncate(1 << 19)
            f = tempfile.TemporaryFile()
            f.write(b'y' * (3 << 20))
            f.flush()
            try:
                open('/workspace/more.bin', 'wb').write(b'z' * (2 << 20))
                out.append('WROTE')
            except OSError as exc:
                out.append(errno.errorcode[exc.errno])
            f.close()
            open('/workspace/more.bin', 'wb').write(b'z' * (2 << 20))
            os.remove('/workspace/more.bin')
            print(json.dumps(out))
        """, sandbox)
        assert result[0] in ("EDQUOT", "ENOSPC")
        assert sandbox.usage().workspace_bytes == before


# -- host folder modes ------------------------------------------------------------------------

@pytest.fixture
def host_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "notebook-folder"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "table.csv").write_text("a,b\n1,2\n")
    (folder / "notes.txt").write_text("host notes")
    return folder


def _host_tree(folder: Path) -> dict[str, str | None]:
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_text()
            for p in sorted(folder.rglob("*"))}


def test_overlay_host_folder(tmp_path: Path, host_folder: Path, run) -> None:
    before = _host_tree(host_folder)
    config = SandboxConfig(host_folder=host_folder, host_folder_mode=HostFolderMode.OVERLAY,
                           state_dir=tmp_path / "state")
    with Sandbox(config) as sandbox:
        result = run_json(run, """
            import json, os, shutil
            os.chdir('/workspace')
            out = [sorted(os.listdir('.')), open('notes.txt').read()]
            with open('notes.txt', 'a') as f:
                f.write(' + guest')
            out.append(open('notes.txt').read())
            os.remove('data/table.csv')
            out.append(os.listdir('data'))
            shutil.move('data', 'data-moved')   # a host folder: copied, then deleted
            open('new.txt', 'w').write('new')
            out.append(sorted(os.listdir('.')))
            print(json.dumps(out))
        """, sandbox)
        assert result == [["data", "notes.txt"], "host notes", "host notes + guest", [],
                          ["data-moved", "new.txt", "notes.txt"]]
        assert sandbox.files.read_text("notes.txt") == "host notes + guest"
    assert _host_tree(host_folder) == before


def test_readonly_host_folder(tmp_path: Path, host_folder: Path, run) -> None:
    before = _host_tree(host_folder)
    config = SandboxConfig(host_folder=host_folder, host_folder_mode=HostFolderMode.READONLY,
                           state_dir=tmp_path / "state")
    with Sandbox(config) as sandbox:
        result = run_json(run, """
            import errno, json, os
            os.chdir('/workspace')
            out = {'read': open('data/table.csv').read()}
            for name, action in [('append', lambda: open('notes.txt', 'a')),
                                 ('truncate', lambda: open('notes.txt', 'w')),
                                 ('delete', lambda: os.remove('notes.txt')),
                                 ('rename', lambda: os.rename('notes.txt', 'n.txt')),
                                 ('rmdir', lambda: os.rmdir('data'))]:
                try:
                    action()
                    out[name] = 'DONE'
                except OSError as exc:
                    out[name] = errno.errorcode[exc.errno]
            open('data/mine.csv', 'w').write('mine')
            out['listing'] = sorted(os.listdir('data'))
            print(json.dumps(out))
        """, sandbox)
        assert result == {"read": "a,b\n1,2\n", "append": "EROFS", "truncate": "EROFS",
                          "delete": "EROFS", "rename": "EROFS", "rmdir": "ENOTEMPTY",
                          "listing": ["mine.csv", "table.csv"]}
    assert _host_tree(host_folder) == before
    assert (tmp_path / "state" / "workspace" / "data" / "mine.csv").read_text() == "mine"


# -- randomness and time ------------------------------------------------------------------------

def test_randomness_differs_between_sandboxes(shared_sandbox: Sandbox, sandbox: Sandbox,
                                              run) -> None:
    code = """
        import json, os, random, uuid
        print(json.dumps([os.urandom(16).hex(), random.random(), str(uuid.uuid4())]))
    """
    first = run_json(run, code, shared_sandbox)
    second = run_json(run, code, sandbox)
    for a, b in zip(first, second, strict=True):
        assert a != b


def test_sleep_waits_as_long_as_asked_and_clocks_advance(run) -> None:
    """time.sleep never returns early and both clocks advance by the slept time. How close to
    the asked time it wakes is a speed matter (a loaded machine): only a hang fails here."""
    result = run_json(run, """
        import json, time
        durations = []
        for wanted in (0.001, 0.05, 0.2):
            start = time.perf_counter()
            time.sleep(wanted)
            durations.append(time.perf_counter() - start)
        m0, t0 = time.monotonic(), time.time()
        time.sleep(0.1)
        print(json.dumps(durations + [time.monotonic() - m0, time.time() - t0]))
    """)
    for wanted, got in zip((0.001, 0.05, 0.2, 0.1, 0.1), result, strict=True):
        assert wanted <= got < wanted + 30, (wanted, got)


# -- WASI correctness --------------------------------------------------------------------------

def test_readdir_with_many_entries(run, folder: str) -> None:
    # Long names so each readdir call returns only a few entries (wasi-libc's 4 KiB buffer).
    result = run_json(run, f"""
        import json, os, pathlib
        os.chdir({folder!r})
        os.mkdir('many')
        names = {{f'entry-{{i:04d}}-' + 'x' * 200 for i in range(250)}} | {{'é-ünïcode', 'a b'}}
        for name in names:
            open('many/' + name, 'w').close()
        out = [sorted(os.listdir('many')) == sorted(names),
               len(list(os.scandir('many'))),
               all(e.is_file() and e.inode() == os.stat(e.path).st_ino for e in os.scandir('many')),
               len(list(pathlib.Path('many').glob('entry-*'))),
               len(list(pathlib.Path('.').rglob('*')))]
        # Deleting while iterating must not skip entries.
        with os.scandir('many') as entries:
            for entry in entries:
                os.remove(entry.path)
        out.append(os.listdir('many'))
        print(json.dumps(out))
    """)
    assert result == [True, 252, True, 250, 253, []]


def test_seek_tell_append_pread_pwrite(run, folder: str) -> None:
    result = run_json(run, f"""
        import json, os
        os.chdir({folder!r})
        out = []
        with open('f.bin', 'wb') as f:
            f.write(b'0123456789')
            out.append(f.tell())
            f.seek(3)
            f.write(b'XY')
            out.append(f.tell())
            out.append(f.seek(0, os.SEEK_END))
            out.append(f.seek(-4, os.SEEK_END))
            f.seek(20)
            f.write(b'!')    # a hole reads back as zeros
        out.append(open('f.bin', 'rb').read().hex())
        with open('f.bin', 'ab') as f:
            out.append(f.tell())
            f.write(b'AP')
            out.append(f.tell())
        fd = os.open('f.bin', os.O_RDWR)
        os.pwrite(fd, b'PW', 1)
        out.append(os.pread(fd, 5, 0).decode())
        out.append(os.lseek(fd, 0, os.SEEK_CUR))   # pread/pwrite leave the offset alone
        try:
            os.lseek(fd, -1, os.SEEK_SET)
        except OSError as exc:
            out.append(exc.errno == 28 or exc.errno)
        os.close(fd)
        fd = os.open('f.bin', os.O_WRONLY | os.O_APPEND)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b'Z')                          # O_APPEND writes at the end anyway
        os.close(fd)
        data = open('f.bin', 'rb').read()
        out += [data[-3:].decode(), len(data), os.stat('f.bin').st_size]
        with open('f.bin', 'r+b') as f:
            f.truncate(4)
        out.append(os.path.getsize('f.bin'))
        print(json.dumps(out))
    """)
    assert result == [10, 5, 10, 6, "303132585935363738390000000000000000000021", 21, 23,
                      "0PWXY", 0, True, "APZ", 24, 24, 4]


def test_rename_replace_rmtree_walk(run, folder: str) -> None:
    result = run_json(run, f"""
        import json, os, shutil
        os.chdir({folder!r})
        out = []
        open('a.txt', 'w').write('a')
        open('b.txt', 'w').write('b')
        os.replace('a.txt', 'b.txt')
        out.append([sorted(os.listdir('.')), open('b.txt').read()])
        os.rename('b.txt', 'b.txt')
        out.append(open('b.txt').read())
        os.makedirs('d1/d2/d3')
        open('d1/d2/d3/deep.txt', 'w').write('deep')
        os.rename('d1', 'e1')
        out.append(open('e1/d2/d3/deep.txt').read())
        os.mkdir('empty')
        os.rename('e1', 'empty')                    # onto an empty folder: allowed
        out.append(sorted(os.listdir('.')))
        out.append([(os.path.relpath(d), sorted(ds), sorted(fs)) for d, ds, fs in os.walk('empty')])
        shutil.copytree('empty', 'copy')
        shutil.rmtree('empty')
        out.append(sorted(os.listdir('.')))
        out.append(os.stat('copy/d2/d3/deep.txt').st_size)
        print(json.dumps(out))
    """)
    assert result == [
        [["b.txt"], "a"], "a", "deep", ["b.txt", "empty"],
        [["empty", ["d2"], []], ["empty/d2", ["d3"], []], ["empty/d2/d3", [], ["deep.txt"]]],
        ["b.txt", "copy"], 4,
    ]


def test_times_and_stat(run, folder: str) -> None:
    result = run_json(run, f"""
        import json, os, pathlib, time
        os.chdir({folder!r})
        p = pathlib.Path('t.txt')
        p.write_bytes(b'12345')
        os.utime(p, (1_000_000, 2_000_000))
        st = os.stat(p)
        out = [st.st_atime, st.st_mtime, st.st_size, p.is_file(), pathlib.Path('.').is_dir()]
        p.touch()
        out.append(abs(time.time() - os.stat(p).st_mtime) < 60)
        with open(p, 'rb') as f:
            out.append(os.fstat(f.fileno()).st_ino == os.stat(p).st_ino)
        print(json.dumps(out))
    """)
    assert result == [1_000_000, 2_000_000, 5, True, True, True, True]


def test_trailing_slash_needs_a_folder(run, folder: str) -> None:
    result = run_json(run, f"""
        import errno, json, os
        os.chdir({folder!r})
        open('f', 'w').close()
        os.mkdir('d')
        out = {{}}
        for name, action in [('open', lambda: open('f/')), ('stat', lambda: os.stat('f/')),
                             ('unlink', lambda: os.unlink('f/')),
                             ('rename', lambda: os.rename('f/', 'g'))]:
            try:
                action()
                out[name] = 'DONE'
            except OSError as exc:
                out[name] = errno.errorcode[exc.errno]
        out['dir'] = [os.path.isdir('d/'), os.listdir('d/'), os.path.exists('f/')]
        os.rename('d/', 'e/')
        out['listing'] = sorted(os.listdir('.'))
        print(json.dumps(out))
    """)
    assert result == {"open": "ENOTDIR", "stat": "ENOTDIR", "unlink": "ENOTDIR",
                      "rename": "ENOTDIR", "dir": [True, [], False], "listing": ["e", "f"]}
