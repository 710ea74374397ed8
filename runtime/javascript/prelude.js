// The node globals of the sandbox's `node`: console, process, require('fs'|'path'|'util'|'os'),
// Buffer, TextEncoder/TextDecoder, timers. Evaluated once per run before the user's code, with
// the run's facts in globalThis.__sandbox_boot (argv, env, cwd, versions). Every effect goes
// through the one host function __sandbox_host(op, ...args) (runtime/javascript/host_functions.py),
// which this file captures and then removes from the global scope.
(function () {
  "use strict";
  const host = globalThis.__sandbox_host;
  const boot = globalThis.__sandbox_boot;
  delete globalThis.__sandbox_host;
  delete globalThis.__sandbox_boot;

  function wellFormed(s) { return typeof s.toWellFormed === "function" ? s.toWellFormed() : s; }

  function call(op, ...args) {
    const result = host(op, ...args);
    if (result !== null && typeof result === "object" && !(result instanceof Uint8Array) &&
        result.__error) {
      const info = result.__error;
      const err = new Error(info.message);
      for (const key of ["code", "errno", "syscall", "path"]) {
        if (info[key] !== undefined) err[key] = info[key];
      }
      throw err;
    }
    return result;
  }

  // -- Buffer (a Uint8Array with Node's encodings) -------------------------------------
  class Buffer extends Uint8Array {
    static from(value, encodingOrOffset, length) {
      if (typeof value === "string") {
        return Buffer._wrap(call("encode", wellFormed(value), encodingOrOffset || "utf8"));
      }
      if (value instanceof ArrayBuffer) {
        return new Buffer(value, encodingOrOffset || 0, length);
      }
      if (ArrayBuffer.isView(value) || Array.isArray(value)) {
        const out = new Buffer(value.length);
        for (let i = 0; i < value.length; i++) out[i] = value[i];
        return out;
      }
      throw new TypeError("The first argument must be a string, Buffer, ArrayBuffer or Array");
    }
    static _wrap(bytes) { return new Buffer(bytes.buffer, bytes.byteOffset, bytes.byteLength); }
    static alloc(size, fill) { const b = new Buffer(size); if (fill !== undefined) b.fill(typeof fill === "string" ? fill.charCodeAt(0) : fill); return b; }
    static allocUnsafe(size) { return new Buffer(size); }
    static isBuffer(value) { return value instanceof Buffer; }
    static byteLength(value, encoding) {
      return typeof value === "string" ? call("encode", wellFormed(value), encoding || "utf8").length : value.byteLength;
    }
    static concat(list, total) {
      const size = total !== undefined ? total : list.reduce((n, b) => n + b.length, 0);
      const out = new Buffer(size);
      let offset = 0;
      for (const b of list) { if (offset >= size) break; out.set(b.subarray(0, size - offset), offset); offset += b.length; }
      return out;
    }
    toString(encoding, start, end) {
      const view = (start !== undefined || end !== undefined) ? this.subarray(start || 0, end) : this;
      return call("decode", new Uint8Array(view.buffer, view.byteOffset, view.byteLength), encoding || "utf8");
    }
    toJSON() { return { type: "Buffer", data: Array.from(this) }; }
    equals(other) { if (this.length !== other.length) return false; for (let i = 0; i < this.length; i++) if (this[i] !== other[i]) return false; return true; }
    write(string, offset) { const bytes = call("encode", wellFormed(string), "utf8"); this.set(bytes.subarray(0, this.length - (offset || 0)), offset || 0); return Math.min(bytes.length, this.length - (offset || 0)); }
    slice(start, end) { const v = this.subarray(start, end); return new Buffer(v.buffer, v.byteOffset, v.byteLength); }
  }

  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(text = "") { const b = call("encode", wellFormed(String(text)), "utf8"); return new Uint8Array(b.buffer, b.byteOffset, b.byteLength); }
  }
  class TextDecoder {
    constructor(encoding = "utf-8") { this.encoding = String(encoding).toLowerCase(); }
    decode(bytes) {
      if (bytes === undefined) return "";
      const view = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return call("decode", view, this.encoding);
    }
  }

  // -- util.inspect / util.format --------------------------------------------------------
  const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
  function quote(s) { return "'" + s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n") + "'"; }
  function inspect(value, options) {
    const depthLimit = options && options.depth !== undefined ? (options.depth === null ? Infinity : options.depth) : 2;
    const seen = [];
    function fmt(v, depth, indent) {
      switch (typeof v) {
        case "string": return depth === 0 && options && options.raw ? v : quote(v);
        case "number": return Object.is(v, -0) ? "-0" : String(v);
        case "bigint": return String(v) + "n";
        case "boolean": return String(v);
        case "undefined": return "undefined";
        case "symbol": return v.toString();
        case "function": {
          const kind = /^class\s/.test(Function.prototype.toString.call(v)) ? "class" : "Function";
          return v.name ? (kind === "class" ? `[class ${v.name}]` : `[Function: ${v.name}]`) : (kind === "class" ? "[class (anonymous)]" : "[Function (anonymous)]");
        }
      }
      if (v === null) return "null";
      if (v instanceof Error) {
        const stack = v.stack ? String(v.stack) : "";
        return stack.startsWith(String(v)) ? stack.trimEnd() : (String(v) + (stack ? "\n" + stack.trimEnd() : ""));
      }
      if (v instanceof Date) return isNaN(v) ? "Invalid Date" : v.toISOString();
      if (v instanceof RegExp) return String(v);
      if (v instanceof Promise) return "Promise { <pending> }";
      if (seen.includes(v)) return "[Circular *1]";
      const isArray = Array.isArray(v);
      const ctorName = v.constructor && v.constructor.name;
      if (depth > depthLimit) return isArray ? "[Array]" : `[${ctorName || "Object"}]`;
      seen.push(v);
      const parts = [];
      let open = "{", close = "}", prefix = "";
      if (isArray) {
        open = "["; close = "]";
        let holes = 0;
        for (let i = 0; i < v.length; i++) {
          if (!(i in v)) { holes++; continue; }
          if (holes) { parts.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`); holes = 0; }
          if (parts.length >= 100) { parts.push(`... ${v.length - i} more item${v.length - i > 1 ? "s" : ""}`); break; }
          parts.push(fmt(v[i], depth + 1, indent + "  "));
        }
        if (holes) parts.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
        if (ctorName && ctorName !== "Array") prefix = `${ctorName}(${v.length}) `;
      } else if (ArrayBuffer.isView(v)) {
        open = "["; close = "]";
        if (v instanceof Buffer) { open = "<Buffer"; close = ">"; }
        else prefix = `${ctorName}(${v.length}) `;
        const n = Math.min(v.length, v instanceof Buffer ? 50 : 100);
        for (let i = 0; i < n; i++) parts.push(v instanceof Buffer ? v[i].toString(16).padStart(2, "0") : String(v[i]));
        if (v.length > n) parts.push(`... ${v.length - n} more ${v instanceof Buffer ? "byte" : "item"}${v.length - n > 1 ? "s" : ""}`);
        if (v instanceof Buffer) { seen.pop(); return parts.length ? `<Buffer ${parts.join(" ")}>` : "<Buffer >"; }
      } else if (v instanceof Map) {
        prefix = `Map(${v.size}) `;
        for (const [k, val] of v) parts.push(`${fmt(k, depth + 1, indent + "  ")} => ${fmt(val, depth + 1, indent + "  ")}`);
      } else if (v instanceof Set) {
        prefix = `Set(${v.size}) `;
        for (const val of v) parts.push(fmt(val, depth + 1, indent + "  "));
      } else if (ctorName && ctorName !== "Object") {
        prefix = ctorName + " ";
      } else if (Object.getPrototypeOf(v) === null) {
        prefix = "[Object: null prototype] ";
      }
      for (const key of Object.keys(v)) {
        if (isArray && /^\d+$/.test(key)) continue;
        if (ArrayBuffer.isView(v) && /^\d+$/.test(key)) continue;
        const name = IDENT.test(key) ? key : quote(key);
        parts.push(`${name}: ${fmt(v[key], depth + 1, indent + "  ")}`);
      }
      for (const sym of Object.getOwnPropertySymbols(v)) {
        if (Object.prototype.propertyIsEnumerable.call(v, sym)) parts.push(`[${sym.toString()}]: ${fmt(v[sym], depth + 1, indent + "  ")}`);
      }
      seen.pop();
      if (parts.length === 0) return prefix + open + close;
      const oneLine = `${prefix}${open} ${parts.join(", ")} ${close}`;
      if (oneLine.length + indent.length <= 72 && !oneLine.includes("\n")) return oneLine;
      return `${prefix}${open}\n${indent}  ${parts.join(`,\n${indent}  `)}\n${indent}${close}`;
    }
    return fmt(value, 0, "");
  }

  function format(...args) {
    let first = args[0];
    let rest = args.slice(1);
    let out = "";
    if (typeof first === "string") {
      let i = 0;
      out = first.replace(/%([sdifjoOc%])/g, (match, spec) => {
        if (spec === "%") return "%";
        if (i >= rest.length) return match;
        const arg = rest[i++];
        switch (spec) {
          case "s": return typeof arg === "string" ? arg : (typeof arg === "object" && arg !== null ? inspect(arg, { depth: 1 }) : String(arg));
          case "d": case "i": { const n = typeof arg === "bigint" ? arg : Number(arg); return spec === "i" && typeof n === "number" ? String(Math.trunc(n)) : String(n); }
          case "f": return String(parseFloat(arg));
          case "j": try { return JSON.stringify(arg); } catch (e) { return "[Circular]"; }
          case "o": case "O": return inspect(arg, { depth: spec === "o" ? 4 : 2 });
          case "c": return "";
        }
        return match;
      });
      rest = rest.slice(i);
    } else {
      rest = args;
    }
    for (const arg of rest) {
      out += (out ? " " : "") + (typeof arg === "string" ? arg : inspect(arg));
    }
    return out;
  }

  // -- process --------------------------------------------------------------------------
  function writer(stream) {
    return {
      write(chunk, encoding, callback) {
        if (typeof encoding === "function") { callback = encoding; encoding = undefined; }
        if (typeof chunk === "string") {
          if (encoding && encoding !== "utf8" && encoding !== "utf-8") chunk = call("encode", wellFormed(chunk), encoding);
          else chunk = wellFormed(chunk);
        } else if (chunk instanceof ArrayBuffer) {
          chunk = new Uint8Array(chunk);
        } else if (ArrayBuffer.isView(chunk)) {
          chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        } else {
          throw new TypeError('The "chunk" argument must be of type string or an instance of Buffer or Uint8Array');
        }
        call("write", stream, chunk);
        if (typeof callback === "function") queueMicrotask(callback);
        return true;
      },
      isTTY: false,
      columns: 80,
      fd: stream === "stdout" ? 1 : 2,
      on() { return this; }, once() { return this; }, end() {},
    };
  }
  const startNs = Date.now() * 1e6;
  const perfStart = typeof performance !== "undefined" ? performance.now() : 0;
  function nowNs() { return typeof performance !== "undefined" ? (performance.now() - perfStart) * 1e6 + startNs : Date.now() * 1e6; }
  function hrtime(previous) {
    const ns = nowNs();
    let sec = Math.floor(ns / 1e9), nsec = Math.floor(ns % 1e9);
    if (previous) { sec -= previous[0]; nsec -= previous[1]; if (nsec < 0) { sec--; nsec += 1e9; } }
    return [sec, nsec];
  }
  hrtime.bigint = () => BigInt(Math.floor(nowNs()));
  const listeners = {};
  const process = {
    argv: boot.argv,
    argv0: "node",
    execArgv: [],
    execPath: "/usr/local/bin/node",
    env: boot.env,
    pid: boot.pid,
    ppid: 1,
    platform: "wasi",
    arch: "wasm32",
    version: boot.version,
    versions: boot.versions,
    release: { name: "node" },
    title: "node",
    exitCode: undefined,
    stdout: writer("stdout"),
    stderr: writer("stderr"),
    stdin: { fd: 0, isTTY: false },
    cwd() { return boot.cwd; },
    chdir() { throw new Error("process.chdir() is not supported in the sandbox's node"); },
    // The host stops the run at QuickJS's next interrupt poll, which this loop reaches at once.
    exit(code) { call("exit", code === undefined ? (process.exitCode || 0) : Number(code)); for (;;) {} },
    hrtime,
    uptime() { return (nowNs() - startNs) / 1e9; },
    nextTick(fn, ...args) { queueMicrotask(() => fn(...args)); },
    memoryUsage() { return { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }; },
    on(event, fn) { (listeners[event] = listeners[event] || []).push(fn); return process; },
    once(event, fn) { return process.on(event, fn); },
    off() { return process; }, removeListener() { return process; },
    emit(event, ...args) { for (const fn of listeners[event] || []) fn(...args); return !!listeners[event]; },
    emitWarning(message) { call("write", "stderr", `(node) Warning: ${message}\n`); },
  };

  const console = {
    log: (...a) => call("write", "stdout", wellFormed(format(...a)) + "\n"),
    error: (...a) => call("write", "stderr", wellFormed(format(...a)) + "\n"),
    dir: (v, o) => call("write", "stdout", wellFormed(inspect(v, o)) + "\n"),
    assert: (cond, ...a) => { if (!cond) call("write", "stderr", "Assertion failed" + (a.length ? ": " + wellFormed(format(...a)) : "") + "\n"); },
    trace: (...a) => call("write", "stderr", "Trace: " + wellFormed(format(...a)) + "\n" + String(new Error().stack).split("\n").slice(1).join("\n") + "\n"),
    time(label = "default") { timers[label] = nowNs(); },
    timeEnd(label = "default") { if (label in timers) { console.log(`${label}: ${((nowNs() - timers[label]) / 1e6).toFixed(3)}ms`); delete timers[label]; } },
    table: (v) => console.log(v),
    group: (...a) => { if (a.length) console.log(...a); }, groupEnd() {},
  };
  const timers = {};
  console.info = console.log;
  console.debug = console.log;
  console.warn = console.error;

  // -- timers (run by the host's event loop: runtime/javascript/runner.py) -----------------
  let timerSeq = 0;
  const pending = new Map();
  function addTimer(fn, ms, args, repeat) {
    if (typeof fn !== "function") throw new TypeError('The "callback" argument must be of type function');
    const id = ++timerSeq;
    const delay = Math.max(1, Number(ms) || 0);
    pending.set(id, { fn, args, due: nowNs() / 1e6 + delay, delay: repeat ? delay : 0, seq: id });
    return { id, ref() { return this; }, unref() { return this; }, hasRef() { return true; }, [Symbol.toPrimitive]() { return id; } };
  }
  function clearTimer(handle) { pending.delete(typeof handle === "object" && handle !== null ? handle.id : handle); }
  const loop = {
    // Milliseconds until the next timer is due (0: now), or -1 when none is left.
    nextDelay() {
      let best = null;
      for (const t of pending.values()) if (best === null || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
      return best === null ? -1 : Math.max(0, best.due - nowNs() / 1e6);
    },
    runDue() {
      let best = null, bestId = 0;
      for (const [id, t] of pending) if (best === null || t.due < best.due || (t.due === best.due && t.seq < best.seq)) { best = t; bestId = id; }
      if (best === null || best.due > nowNs() / 1e6) return;
      if (best.delay) { best.due += best.delay; best.seq = ++timerSeq; } else pending.delete(bestId);
      best.fn(...best.args);
    },
    exitCode() { process.emit("exit", process.exitCode || 0); return process.exitCode || 0; },
    printValue(v) { call("write", "stdout", wellFormed(inspect(v)) + "\n"); },
    // The -e program's last value: a promise that rejects (async main() that throws) is an
    // uncaught error, as in node (which reports every unhandled rejection; QuickJS here gives
    // no hook for the others).
    watch(v) {
      if (v instanceof Promise) {
        v.then(undefined, (e) => {
          const text = e instanceof Error ? `${e.name}: ${e.message}\n${String(e.stack || "")}` : `Uncaught ${inspect(e)}\n`;
          const named = text.replace(/\(<input>:/g, `(${boot.filename}:`).replace(/\(eval_script:/g, "(node:internal/sandbox:");
          const frames = named.split("\n").filter((line) => !/^\s+at (eval \(native\)|<eval> \(node:internal\/sandbox:1:\d+\))$/.test(line));
          call("write", "stderr", wellFormed(frames.join("\n")));
          process.exitCode = 1;
        });
      }
    },
  };

  // -- fs -------------------------------------------------------------------------------
  function pathArg(path) {
    if (path === 0) return 0;
    if (typeof URL !== "undefined" && path instanceof URL) return path.pathname;
    if (typeof path !== "string") throw new TypeError('The "path" argument must be of type string or an instance of Buffer or URL');
    return wellFormed(path);
  }
  function encodingOf(options, fallback) {
    if (typeof options === "string") return options;
    if (options && options.encoding) return options.encoding;
    return fallback;
  }
  function dataArg(data) {
    if (typeof data === "string") return wellFormed(data);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    throw new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView');
  }
  class Stats {
    constructor(info) { Object.assign(this, info); delete this.type; Object.defineProperty(this, "_type", { value: info.type }); this.mtime = new Date(info.mtimeMs); this.atime = new Date(info.atimeMs); this.ctime = new Date(info.ctimeMs); this.birthtime = this.ctime; }
    isFile() { return this._type === "file"; }
    isDirectory() { return this._type === "dir"; }
    isSymbolicLink() { return false; }
  }
  class Dirent {
    constructor(name, parent, type) { this.name = name; this.parentPath = parent; this.path = parent; Object.defineProperty(this, "_type", { value: type }); }
    isFile() { return this._type === "file"; }
    isDirectory() { return this._type === "dir"; }
    isSymbolicLink() { return false; }
  }
  const fs = {
    readFileSync(path, options) {
      const bytes = call("readFile", typeof path === "number" ? path : pathArg(path));
      const encoding = encodingOf(options, null);
      return encoding ? call("decode", bytes, encoding) : Buffer._wrap(bytes);
    },
    writeFileSync(path, data, options) {
      const flag = options && typeof options === "object" && options.flag || "w";
      if (path === 1 || path === 2) { (path === 1 ? process.stdout : process.stderr).write(data); return; }
      call("writeFile", pathArg(path), dataArg(data), encodingOf(options, "utf8"), flag.startsWith("a"));
    },
    appendFileSync(path, data, options) {
      call("writeFile", pathArg(path), dataArg(data), encodingOf(options, "utf8"), true);
    },
    existsSync(path) {
      try { return call("exists", pathArg(path)); } catch (e) { return false; }
    },
    readdirSync(path, options) {
      const names = call("readdir", pathArg(path));
      if (options && typeof options === "object" && options.withFileTypes) {
        const dir = call("resolve", pathArg(path));
        return names.map((name) => new Dirent(name, dir, call("stat", dir.replace(/\/$/, "") + "/" + name).type));
      }
      return names;
    },
    mkdirSync(path, options) {
      const recursive = !!(options && typeof options === "object" && options.recursive);
      const first = call("mkdir", pathArg(path), recursive);
      return recursive ? (first === null ? undefined : first) : undefined;
    },
    statSync(path, options) {
      try { return new Stats(call("stat", pathArg(path))); }
      catch (e) { if (options && options.throwIfNoEntry === false && e.code === "ENOENT") return undefined; throw e; }
    },
    lstatSync(path, options) { return fs.statSync(path, options); },
    unlinkSync(path) { call("unlink", pathArg(path)); },
    rmdirSync(path) { call("rmdir", pathArg(path)); },
    rmSync(path, options) {
      const st = fs.statSync(path, { throwIfNoEntry: !(options && options.force) });
      if (st === undefined) return;
      if (st.isDirectory()) {
        if (!(options && options.recursive)) { const e = new Error(`ERR_FS_EISDIR: Path is a directory: rm returned EISDIR (is a directory) ${path}`); e.code = "ERR_FS_EISDIR"; throw e; }
        for (const name of fs.readdirSync(path)) fs.rmSync(path.replace(/\/$/, "") + "/" + name, options);
        fs.rmdirSync(path);
      } else fs.unlinkSync(path);
    },
    renameSync(from, to) { call("rename", pathArg(from), pathArg(to)); },
    realpathSync(path) { fs.statSync(path); return call("resolve", pathArg(path)); },
    constants: { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1 },
    accessSync(path) { fs.statSync(path); },
    Stats, Dirent,
  };
  const promises = {};
  for (const name of ["readFile", "writeFile", "appendFile", "readdir", "mkdir", "stat", "lstat", "unlink", "rmdir", "rm", "rename", "realpath", "access"]) {
    const sync = fs[name + "Sync"];
    promises[name] = (...args) => new Promise((resolve) => resolve(sync(...args)));
    fs[name] = (...args) => {
      const callback = typeof args[args.length - 1] === "function" ? args.pop() : null;
      let result, error = null;
      try { result = sync(...args); } catch (e) { error = e; }
      if (callback) queueMicrotask(() => callback(error, result));
    };
  }
  fs.promises = promises;

  // -- path (POSIX) ---------------------------------------------------------------------
  function normalizeParts(parts, absolute) {
    const out = [];
    for (const p of parts) {
      if (p === "" || p === ".") continue;
      if (p === "..") { if (out.length && out[out.length - 1] !== "..") out.pop(); else if (!absolute) out.push(".."); continue; }
      out.push(p);
    }
    return out;
  }
  const path = {
    sep: "/",
    delimiter: ":",
    normalize(p) {
      if (p === "") return ".";
      const absolute = p.startsWith("/");
      const trailing = p.endsWith("/");
      let out = normalizeParts(p.split("/"), absolute).join("/");
      if (!out && !absolute) out = ".";
      if (out && trailing) out += "/";
      return (absolute ? "/" : "") + out;
    },
    join(...parts) { const joined = parts.filter((p) => p !== "").join("/"); return joined ? path.normalize(joined) : "."; },
    resolve(...parts) {
      let resolved = "";
      for (let i = parts.length - 1; i >= 0 && !resolved.startsWith("/"); i--) if (parts[i]) resolved = parts[i] + (resolved ? "/" + resolved : "");
      if (!resolved.startsWith("/")) resolved = boot.cwd + (resolved ? "/" + resolved : "");
      return "/" + normalizeParts(resolved.split("/"), true).join("/");
    },
    isAbsolute(p) { return p.startsWith("/"); },
    dirname(p) {
      if (!p) return ".";
      const trimmed = p.replace(/\/+$/, "") || "/";
      const i = trimmed.lastIndexOf("/");
      if (i < 0) return ".";
      return i === 0 ? "/" : trimmed.slice(0, i);
    },
    basename(p, ext) {
      let base = p.replace(/\/+$/, "");
      base = base.slice(base.lastIndexOf("/") + 1);
      if (ext && base.endsWith(ext) && base !== ext) base = base.slice(0, -ext.length);
      return base;
    },
    extname(p) {
      const base = path.basename(p);
      const i = base.lastIndexOf(".");
      return i <= 0 ? "" : base.slice(i);
    },
    relative(from, to) {
      const a = path.resolve(from).split("/").filter(Boolean), b = path.resolve(to).split("/").filter(Boolean);
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      return [...Array(a.length - i).fill(".."), ...b.slice(i)].join("/");
    },
    parse(p) {
      const root = p.startsWith("/") ? "/" : "", base = path.basename(p), ext = path.extname(p);
      return { root, dir: path.dirname(p) === "." && !p.includes("/") ? "" : path.dirname(p), base, ext, name: ext ? base.slice(0, -ext.length) : base };
    },
    format(o) { const dir = o.dir || o.root || ""; const base = o.base || (o.name || "") + (o.ext || ""); return dir ? (dir.endsWith("/") ? dir + base : dir + "/" + base) : base; },
  };
  path.posix = path;

  const util = {
    format, inspect,
    isDeepStrictEqual(a, b) { return JSON.stringify(a) === JSON.stringify(b); },
    promisify(fn) { return (...args) => new Promise((resolve, reject) => fn(...args, (err, value) => err ? reject(err) : resolve(value))); },
    types: { isPromise: (v) => v instanceof Promise, isDate: (v) => v instanceof Date, isRegExp: (v) => v instanceof RegExp },
    TextEncoder, TextDecoder,
  };
  inspect.custom = Symbol.for("nodejs.util.inspect.custom");
  const os = {
    EOL: "\n",
    platform: () => "wasi", type: () => "WASI", arch: () => "wasm32", release: () => boot.version,
    hostname: () => "sandbox", homedir: () => boot.env.HOME || "/", tmpdir: () => "/tmp",
    cpus: () => [], totalmem: () => boot.memoryLimit, freemem: () => 0, endianness: () => "LE",
  };
  const events = (() => {
    class EventEmitter {
      on(event, fn) { ((this._events = this._events || {})[event] = this._events[event] || []).push(fn); return this; }
      addListener(event, fn) { return this.on(event, fn); }
      once(event, fn) { const wrap = (...a) => { this.off(event, wrap); fn(...a); }; return this.on(event, wrap); }
      off(event, fn) { const list = (this._events || {})[event]; if (list) { const i = list.indexOf(fn); if (i >= 0) list.splice(i, 1); } return this; }
      removeListener(event, fn) { return this.off(event, fn); }
      emit(event, ...args) { const list = ((this._events || {})[event] || []).slice(); for (const fn of list) fn.apply(this, args); return list.length > 0; }
      listenerCount(event) { return ((this._events || {})[event] || []).length; }
    }
    EventEmitter.EventEmitter = EventEmitter;
    return EventEmitter;
  })();

  // -- require --------------------------------------------------------------------------
  const builtins = { fs, path, util, os, events, buffer: { Buffer }, "fs/promises": promises, "path/posix": path, timers: {} };
  const moduleCache = {};
  function loadFile(file) {
    if (moduleCache[file]) return moduleCache[file].exports;
    const source = call("decode", call("readFile", file), "utf8");
    const module = { exports: {}, filename: file, id: file, loaded: false, children: [], paths: [] };
    moduleCache[file] = module;
    if (file.endsWith(".json")) {
      module.exports = JSON.parse(source);
    } else {
      const wrapper = (0, eval)("(function (exports, require, module, __filename, __dirname) {" + source.replace(/^#!.*/, "") + "\n})");
      wrapper.call(module.exports, module.exports, makeRequire(path.dirname(file)), module, file, path.dirname(file));
    }
    module.loaded = true;
    return module.exports;
  }
  function isFile(p) { try { return call("stat", p).type === "file"; } catch (e) { return false; } }
  function makeRequire(dir) {
    function require(name) {
      if (typeof name !== "string") throw new TypeError('The "id" argument must be of type string');
      const bare = name.startsWith("node:") ? name.slice(5) : name;
      if (Object.prototype.hasOwnProperty.call(builtins, bare)) return builtins[bare];
      if (name.startsWith("./") || name.startsWith("../") || name.startsWith("/") || name === "." || name === "..") {
        const base = path.resolve(dir, name);
        for (const candidate of [base, base + ".js", base + ".cjs", base + ".json", base + "/index.js", base + "/index.json"]) {
          if (isFile(candidate)) return loadFile(candidate);
        }
      }
      const err = new Error(`Cannot find module '${name}'\n(the sandbox's node is QuickJS with the built-in modules ${Object.keys(builtins).join(", ")}, and .js/.json files given by a relative or absolute path; it has no npm packages)`);
      err.code = "MODULE_NOT_FOUND";
      throw err;
    }
    require.resolve = (name) => {
      if (Object.prototype.hasOwnProperty.call(builtins, name.replace(/^node:/, ""))) return name;
      return path.resolve(dir, name);
    };
    require.cache = moduleCache;
    return require;
  }

  Object.defineProperties(globalThis, {
    console: { value: console, writable: true, configurable: true },
    process: { value: process, writable: true, configurable: true },
    Buffer: { value: Buffer, writable: true, configurable: true },
    TextEncoder: { value: TextEncoder, writable: true, configurable: true },
    TextDecoder: { value: TextDecoder, writable: true, configurable: true },
    global: { value: globalThis, writable: true, configurable: true },
    setTimeout: { value: (fn, ms, ...args) => addTimer(fn, ms, args, false), writable: true, configurable: true },
    setInterval: { value: (fn, ms, ...args) => addTimer(fn, ms, args, true), writable: true, configurable: true },
    setImmediate: { value: (fn, ...args) => addTimer(fn, 0, args, false), writable: true, configurable: true },
    clearTimeout: { value: clearTimer, writable: true, configurable: true },
    clearInterval: { value: clearTimer, writable: true, configurable: true },
    clearImmediate: { value: clearTimer, writable: true, configurable: true },
    __sandbox_loop: { value: loop, writable: false, configurable: false, enumerable: false },
    __sandbox_require: { value: makeRequire, writable: false, configurable: false, enumerable: false },
  });
  if (typeof globalThis.structuredClone !== "function") {
    globalThis.structuredClone = (v) => JSON.parse(JSON.stringify(v));
  }
})();
