"""``node`` in the sandbox (runtime/javascript, INTERFACES.md B): QuickJS on wasm with Node's
console, process, Buffer, timers and an ``fs`` subset over the sandbox's own filesystem.

Each test runs ``run_javascript`` over a real sandbox's VFS and checks what the sandbox's files
API (``Sandbox.files``) sees, as the process table and the kernel do."""

from __future__ import annotations

import json
import threading

import pytest

from jupyter_sandbox.runtime import module_cache
from jupyter_sandbox.runtime.javascript import JavaScriptLimits
from jupyter_sandbox.runtime.javascript import module as javascript_module
from tests.runtime.javascript_helpers import node


@pytest.fixture
def vfs(shared_sandbox):
    return shared_sandbox.vfs


def test_console_log_of_a_sum_prints_2(vfs):
    result = node(vfs, "-e", "console.log(1+1)")
    assert (result.status, result.out, result.err) == (0, "2\n", "")


def test_console_formats_objects_readably_and_error_goes_to_stderr(vfs):
    result = node(vfs, "-e", """
        console.log({a: 1, b: 'x', c: [1, 2, {d: null}]}, 'plain', 3.5, undefined);
        console.log(new Map([['k', 1]]), new Set([1]), [function named() {}, class K {}]);
        console.log('%s is %d years', 'Bob', 42, 'extra');
        console.log(Buffer.from('hi'), [1n, Symbol('s')], {'needs quote': true});
        console.error('bad', {e: 1});
        console.warn('careful');
    """)
    assert result.status == 0
    assert result.out.splitlines() == [
        "{ a: 1, b: 'x', c: [ 1, 2, { d: null } ] } plain 3.5 undefined",
        "Map(1) { 'k' => 1 } Set(1) { 1 } [ [Function: named], [class K] ]",
        "Bob is 42 years extra",
        "<Buffer 68 69> [ 1n, Symbol(s) ] { 'needs quote': true }",
    ]
    assert result.err == "bad { e: 1 }\ncareful\n"


def test_long_objects_break_over_lines_and_nesting_is_cut_at_depth_2(vfs):
    result = node(vfs, "-e", "console.log({alpha: 'a'.repeat(30), beta: 'b'.repeat(30), "
                             "deep: {l1: {l2: {l3: 1}}}})")
    assert result.out == ("{\n  alpha: '" + "a" * 30 + "',\n  beta: '" + "b" * 30 +
                          "',\n  deep: { l1: { l2: [Object] } }\n}\n")


def test_argv_and_env(vfs):
    result = node(vfs, "-e", "console.log(JSON.stringify([process.argv.slice(1), "
                             "process.env.GREETING, process.cwd()]))", "one", "two words",
                  env={"GREETING": "hello"}, cwd="/tmp")
    assert json.loads(result.out) == [["one", "two words"], "hello", "/tmp"]


def test_exit_codes(vfs):
    assert node(vfs, "-e", "process.exit(3)").status == 3
    assert node(vfs, "-e", "process.exitCode = 4").status == 4
    after = node(vfs, "-e", "try { process.exit(5) } finally { console.log('not printed') }")
    assert (after.status, after.out) == (5, "")
    assert node(vfs, "-e", "process.exit(256 + 7)").status == 7


def test_uncaught_exception_prints_its_stack_and_exits_1(vfs):
    result = node(vfs, "-e", "function inner() { throw new TypeError('boom') }\ninner()")
    assert result.status == 1
    lines = result.err.splitlines()
    assert lines[0] == "TypeError: boom"
    assert "at inner ([eval]:1:" in lines[1]
    thrown = node(vfs, "-e", "throw 'just a string'")
    assert (thrown.status, thrown.err) == (1, "Uncaught just a string\n")
    assert node(vfs, "-e", "throw null").err == "Uncaught null\n"


def test_syntax_error_exits_1(vfs):
    result = node(vfs, "-e", "let = = 1")
    assert result.status == 1 and result.err.startswith("SyntaxError")


def test_print_option_prints_the_value(vfs):
    assert node(vfs, "-p", "6 * 7").out == "42\n"
    assert node(vfs, "-p", "({x: [1, 'a']})").out == "{ x: [ 1, 'a' ] }\n"


def test_script_file_with_arguments_and_relative_requires(shared_sandbox):
    files = shared_sandbox.files
    files.mkdir("/workspace/jsapp/lib", parents=True)
    files.write_text("/workspace/jsapp/main.js", "#!/usr/bin/env node\n"
                     "const {twice} = require('./lib/helper');\n"
                     "const data = require('./data.json');\n"
                     "console.log(twice(data.n), process.argv.slice(2).join('|'), __filename,"
                     " __dirname);\n")
    files.write_text("/workspace/jsapp/lib/helper.js", "exports.twice = (x) => x * 2;\n")
    files.write_text("/workspace/jsapp/data.json", '{"n": 21}')
    result = node(shared_sandbox.vfs, "jsapp/main.js", "a", "b c")
    assert (result.status, result.err) == (0, "")
    assert result.out == "42 a|b c /workspace/jsapp/main.js /workspace/jsapp\n"


def test_missing_script_and_bad_option(vfs):
    missing = node(vfs, "no-such-script.js")
    assert missing.status == 9 and "no-such-script.js" in missing.err
    bad = node(vfs, "--inspect", "x.js")
    assert (bad.status, bad.err) == (9, "node: bad option: --inspect\n")
    assert node(vfs, "--version").out.startswith("v")


def test_program_from_stdin_and_stdin_as_a_file(vfs):
    assert node(vfs, stdin=b"console.log('from stdin')").out == "from stdin\n"
    piped = node(vfs, "-e", "console.log(require('fs').readFileSync(0, 'utf8').toUpperCase())",
                 stdin=b"piped words")
    assert piped.out == "PIPED WORDS\n"


def test_fs_round_trip_is_the_sandbox_filesystem(shared_sandbox):
    files = shared_sandbox.files
    files.write_text("/workspace/from-python.txt", "written by the host API")
    result = node(shared_sandbox.vfs, "-e", """
        const fs = require('node:fs');
        const text = fs.readFileSync('from-python.txt', 'utf8');
        fs.writeFileSync('from-js.txt', 'JS read: ' + text);
        fs.appendFileSync('from-js.txt', ' (appended)');
        console.log(fs.existsSync('from-js.txt'), fs.existsSync('nope.txt'));
        console.log(fs.mkdirSync('js/a/b', {recursive: true}));
        fs.mkdirSync('js/a/b', {recursive: true});
        fs.writeFileSync('js/a/b/c.txt', 'c');
        console.log(fs.readdirSync('js/a/b'), fs.statSync('js/a').isDirectory(),
                    fs.statSync('js/a/b/c.txt').size);
        console.log(fs.readdirSync('js/a', {withFileTypes: true}).map(d => d.isDirectory()));
        fs.renameSync('js/a/b/c.txt', 'js/moved.txt');
        fs.unlinkSync('js/moved.txt');
        try { fs.mkdirSync('js') } catch (e) { console.log(e.code, e.syscall) }
        try { fs.readFileSync('missing.txt') } catch (e) { console.log(e.code, e.message) }
    """)
    assert (result.status, result.err) == (0, "")
    assert result.out.splitlines() == [
        "true false",
        "/workspace/js",
        "[ 'c.txt' ] true 1",
        "[ true ]",
        "EEXIST mkdir",
        "ENOENT ENOENT: no such file or directory, open 'missing.txt'",
    ]
    assert files.read_text("/workspace/from-js.txt") == \
        "JS read: written by the host API (appended)"
    assert [info.name for info in files.list("/workspace/js")] == ["a"]


def test_binary_and_invalid_utf8_pass_through_intact(shared_sandbox):
    raw = bytes(range(256)) + b"\xff\xfe\xc3\x28"
    shared_sandbox.files.write_bytes("/workspace/blob.bin", raw)
    result = node(shared_sandbox.vfs, "-e", """
        const fs = require('fs');
        const data = fs.readFileSync('blob.bin');
        fs.writeFileSync('copy.bin', data);
        process.stdout.write(data);
        process.stdout.write(new Uint8Array([0x80, 0x00, 0xc3]));
        process.stderr.write(Buffer.from([0xff]));
    """)
    assert result.status == 0
    assert result.stdout == raw + b"\x80\x00\xc3"
    assert result.stderr == b"\xff"
    assert shared_sandbox.files.read_bytes("/workspace/copy.bin") == raw


def test_buffers_and_text_codecs(vfs):
    result = node(vfs, "-e", """
        console.log(Buffer.from('aGk=', 'base64').toString(), Buffer.from('hé').length,
                    Buffer.from([255, 1]).toString('hex'), Buffer.from('hi').toString('base64'),
                    new TextDecoder().decode(new TextEncoder().encode('ü€')),
                    Buffer.concat([Buffer.from('a'), Buffer.from('b')]).toString());
    """)
    assert result.out == "hi 3 ff01 aGk= ü€ ab\n"


def test_promises_then_timers_in_order(vfs):
    result = node(vfs, "-e", """
        setTimeout(() => console.log('timer 20'), 20);
        setTimeout(() => console.log('timer 5'), 5);
        const id = setTimeout(() => console.log('cleared'), 1);
        clearTimeout(id);
        let n = 0;
        const iv = setInterval(() => { console.log('tick', ++n); if (n === 2) clearInterval(iv) });
        Promise.resolve().then(() => console.log('microtask'));
        (async () => { await null; console.log('async') })();
        console.log('sync');
    """)
    lines = result.out.splitlines()
    assert lines[:3] == ["sync", "microtask", "async"]
    assert sorted(lines[3:]) == ["tick 1", "tick 2", "timer 20", "timer 5"]
    assert lines.index("timer 5") < lines.index("timer 20")


def test_unknown_module_is_a_clear_js_error(vfs):
    result = node(vfs, "-e", "require('left-pad')")
    assert result.status == 1
    assert result.err.startswith("Error: Cannot find module 'left-pad'")
    assert "no npm packages" in result.err
    caught = node(vfs, "-e", "try { require('http') } catch (e) { console.log(e.code) }")
    assert caught.out == "MODULE_NOT_FOUND\n"


def test_path_util_and_os_modules(vfs):
    result = node(vfs, "-e", """
        const path = require('path');
        console.log(path.join('a', '../b', 'c.txt'), path.resolve('x'),
                    path.basename('/q/r.js', '.js'), path.extname('f.tar.gz'),
                    path.dirname('/a/b/c'), path.relative('/a/b', '/a/c/d'));
        console.log(require('util').format('%s=%j', 'k', {v: 1}), require('os').EOL === '\\n');
    """, cwd="/tmp")
    assert result.out == "b/c.txt /tmp/x r .gz /a/b ../c/d\nk={\"v\":1} true\n"


def test_the_host_function_is_not_reachable_from_js(vfs):
    result = node(vfs, "-e", "console.log(typeof __sandbox_host, typeof __sandbox_boot)")
    assert result.out == "undefined undefined\n"


def test_quickjs_module_is_compiled_for_the_shared_engine_and_cached_on_disk(vfs):
    module = javascript_module.quickjs_module()
    assert module is javascript_module.quickjs_module()
    paths = javascript_module.cache_paths()
    assert paths.module.is_file() and paths.sidecar.is_file()
    assert paths.module.name.startswith("quickjs-")
    assert javascript_module.quickjs_artifact().sha256[:32] in \
        javascript_module.quickjs_artifact().identity
    # a second load from the disk file works with the process's one engine
    import wasmtime

    reloaded = wasmtime.Module.deserialize_file(module_cache.engine(), str(paths.module))
    assert {e.name for e in reloaded.exports} >= {"eval_code", "memory", "qjs_alloc"}


def test_many_runs_leave_no_thread_behind(vfs):
    before = threading.active_count()
    for _ in range(20):
        assert node(vfs, "-e", "setTimeout(() => {}, 1)").status == 0
    assert threading.active_count() == before


def test_a_node_process_of_the_process_table(shared_sandbox):
    handle = shared_sandbox.processes.start(["node", "-e", "console.log(process.argv.length)"],
                                            background=False)
    assert handle.wait(timeout=120) == 0
    output = b"".join(c.data for c in handle.read_output(0, timeout=5) if c.stream == "stdout")
    assert output == b"1\n"


def test_memory_limit_is_the_engine_store_limit(vfs):
    result = node(vfs, "-e", "const a = new Uint8Array(48 * 1024 * 1024); console.log(a.length)",
                  limits=JavaScriptLimits(memory_bytes=32 << 20))
    assert result.status == 1 and "memory limit (32 MiB)" in result.err
    ok = node(vfs, "-e", "const a = new Uint8Array(8 * 1024 * 1024); console.log(a.length)",
              limits=JavaScriptLimits(memory_bytes=32 << 20))
    assert ok.out == f"{8 * 1024 * 1024}\n"


def test_runs_on_many_threads_at_once_keep_their_own_output_and_status(vfs):
    results: dict[int, object] = {}

    def worker(n: int) -> None:
        code = (f"let s = 0; for (let i = 0; i < 20000; i++) s += i; "
                f"setTimeout(() => {{ console.log('run {n}', s); process.exit({n}) }}, 1)")
        results[n] = [node(vfs, "-e", code) for _ in range(3)]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(results) == list(range(1, 7))
    for n, runs in results.items():
        assert [(r.status, r.out, r.err) for r in runs] == [(n, f"run {n} 199990000\n", "")] * 3


def test_exit_code_rules(vfs):
    assert node(vfs, "-e", "process.exitCode = 3; process.exit(0)").status == 0
    listener = node(vfs, "-e", "process.on('exit', (c) => console.log('exiting', c)); "
                               "process.exitCode = 2")
    assert (listener.status, listener.out) == (2, "exiting 2\n")
    spin = node(vfs, "-e", "try { process.exit(6) } catch (e) {} console.log('after')")
    assert (spin.status, spin.out) == (6, "")


def test_the_guest_abi_is_the_one_quickjs_py_speaks():
    """quickjs-rs's _guest.wasm is not a public API: an upgrade that changes its imports or the
    exports we call must fail here, not in a user's notebook."""
    module = javascript_module.quickjs_module()
    imports = {(i.module, i.name) for i in module.imports}
    assert {name for mod, name in imports if mod == "env"} == {
        "host_call", "host_interrupt", "host_module_normalize", "host_module_load"}
    assert {mod for mod, _ in imports} == {"env", "wasi_snapshot_preview1"}
    exports = {e.name for e in module.exports}
    used = {"memory", "qjs_alloc", "qjs_free", "qjs_last_len", "qjs_last_ptr",
            "qjs_result_free", "eval_code", "execute_pending_jobs", "last_exception", "type_of",
            "get_string", "get_number", "get_bool", "get_prop", "set_prop",
            "get_typed_array_buffer", "get_arraybuffer", "new_undefined", "new_null",
            "new_bool", "new_number", "new_string", "new_uint8array", "new_from_json",
            "new_function", "global_object", "free_value", "set_max_stack_size"}
    assert used <= exports
    assert javascript_module.quickjs_artifact().package_version == \
        javascript_module.QUICKJS_RS_VERSION


def test_a_rejected_async_main_is_an_uncaught_error(vfs):
    result = node(vfs, "-e", "async function main() { await null; throw new Error('async boom') }"
                             "\nmain()")
    assert result.status == 1
    assert result.err.splitlines()[0] == "Error: async boom"
    assert result.err.splitlines()[1].startswith("    at main ([eval]:1:")
    handled = node(vfs, "-e", "(async () => { throw new Error('x') })().catch(e => "
                              "console.log('caught', e.message))")
    assert (handled.status, handled.out, handled.err) == (0, "caught x\n", "")


def test_code_runs_in_sloppy_mode_as_in_node(vfs):
    result = node(vfs, "-e", "implicitGlobal = 5; console.log(implicitGlobal, this === globalThis)")
    assert result.out == "5 true\n"


def test_a_script_error_names_the_script_file_and_line(shared_sandbox):
    shared_sandbox.files.write_text("/workspace/fails.js", "const x = 1;\n\nnull.boom;\n")
    result = node(shared_sandbox.vfs, "fails.js")
    assert result.status == 1
    assert result.err.splitlines()[0].startswith("TypeError")
    assert "(/workspace/fails.js:3:" in result.err
    assert "node:internal/sandbox:1:" not in result.err
