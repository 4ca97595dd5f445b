// deno-lint-ignore-file
// Generated from core/plugin/host_main.ts by scripts/plugin_host_js.ts: do not edit; run the
// script after changing the TypeScript. The plugin host runs this file (no transpiling).
// core/plugin/protocol.ts
var EXIT_HOST_OOM = 86;
var EXIT_WORKER_DIED = 87;
var EXIT_HOST_IDLE_CPU = 88;
var NL = 10;
var BoundedLineReader = class {
  maxLine;
  onLine;
  onOverflow;
  #parts;
  #size;
  #overflowing;
  #decoder;
  /** @param maxLine longest line kept, in bytes @param onLine gets each complete line */
  constructor(maxLine, onLine, onOverflow) {
    this.maxLine = maxLine;
    this.onLine = onLine;
    this.onOverflow = onOverflow;
    this.#parts = [];
    this.#size = 0;
    this.#overflowing = false;
    this.#decoder = new TextDecoder();
  }
  /** Feeds one chunk. */
  push(chunk) {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NL, start);
      const end = nl === -1 ? chunk.length : nl;
      this.#append(chunk.subarray(start, end));
      if (nl === -1) return;
      this.#finishLine();
      start = nl + 1;
    }
  }
  #append(part) {
    if (part.length === 0) return;
    if (this.#overflowing) {
      this.onOverflow(part.length);
      return;
    }
    if (this.#size + part.length > this.maxLine) {
      this.onOverflow(this.#size + part.length);
      this.#parts = [];
      this.#size = 0;
      this.#overflowing = true;
      return;
    }
    this.#parts.push(part.slice());
    this.#size += part.length;
  }
  #finishLine() {
    if (this.#overflowing) {
      this.#overflowing = false;
      return;
    }
    const parts = this.#parts;
    this.#parts = [];
    const size = this.#size;
    this.#size = 0;
    if (parts.length === 1) return this.onLine(this.#decoder.decode(parts[0]));
    const all = new Uint8Array(size);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    this.onLine(this.#decoder.decode(all));
  }
};

// core/plugin/host_main.ts
var RSS_POLL_MS = 50;
var IDLE_CPU_WINDOW_MS = 1e4;
var STDIN_CHUNK_BYTES = 64 * 1024;
var MAX_PARENT_LINE_BYTES = 80 * 1024 * 1024;
var encoder = new TextEncoder();
var WORKER_ENTRY = import.meta.url.endsWith(".js") ? "./worker_entry.js" : "./worker_entry.ts";
var cpuUsage = Deno.cpuUsage ?? (await import("node:process")).cpuUsage;
var Host = class {
  spec;
  worker;
  pending;
  /**
   * While idle (ready, or a call answered): when the current window of
   * {@linkcode IDLE_CPU_WINDOW_MS} began and the process CPU time (µs) then; undefined while a
   * call runs. A plugin's timer or own Worker that keeps working after its call returned is
   * bounded by nothing else: the call's timeout ended with the call.
   */
  idleFrom;
  constructor(spec) {
    this.spec = spec;
  }
  write(frame) {
    if (frame.t === "ready" || frame.t === "result") {
      this.idleFrom = {
        at: performance.now(),
        cpu: cpuMicros(),
      };
    }
    const bytes = encoder.encode(`${this.spec.token} ${JSON.stringify(frame)}
`);
    let off = 0;
    while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
  }
  start() {
    const url = new URL(WORKER_ENTRY, import.meta.url);
    this.worker = new Worker(url, {
      type: "module",
      name: `plugin:${this.spec.plugin.id}`,
      deno: {
        permissions: this.spec.permissions,
      },
    });
    this.worker.onmessage = (e) => this.onWorkerMessage(e.data);
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.onWorkerDied(e.message ?? "worker error");
    };
    this.worker.onmessageerror = () => this.onWorkerDied("unreadable message from plugin");
    const { token: _token, ...rest } = this.spec;
    this.worker.postMessage(rest);
  }
  call(frame) {
    this.idleFrom = void 0;
    this.pending = {
      id: frame.id,
    };
    this.worker.postMessage(frame);
  }
  onWorkerDied(message) {
    const type = /Requires \w+ access|NotCapable|Can't escalate/.test(message)
      ? "denied"
      : "crashed";
    const msg = `plugin worker died: ${String(message).slice(0, 2e3)}`;
    if (this.pending) {
      this.write({
        t: "result",
        id: this.pending.id,
        ok: false,
        type,
        message: msg,
        logs: [],
      });
    } else {this.write({
        t: "fatal",
        type,
        message: msg,
      });}
    Deno.exit(EXIT_WORKER_DIED);
  }
  onWorkerMessage(raw) {
    const m = raw ?? {};
    const { logs, truncated: logsCut } = this.boundLogs(m.logs);
    const overPrinted = typeof m.overPrinted === "number" ? m.overPrinted : 0;
    if (m.t === "ready" || m.t === "fatal") {
      if (m.t === "ready") {
        this.write({
          t: "ready",
          logs,
        });
      } else {this.write({
          t: "fatal",
          type: str(m.type),
          message: str(m.message),
          logs,
        });}
      return;
    }
    if (m.t !== "result" || !this.pending || m.id !== this.pending.id) return;
    const id = this.pending.id;
    this.pending = void 0;
    const truncated = logsCut || m.truncated === true || m.cut === true;
    if (overPrinted > 0) {
      return this.write({
        t: "result",
        id,
        ok: false,
        type: "invalid_output",
        message:
          `plugin printed ${overPrinted} bytes, more than limits.max_output_bytes (${this.spec.maxOutputBytes})`,
        logs,
        truncated: true,
      });
    }
    if (m.ok !== true) {
      return this.write({
        t: "result",
        id,
        ok: false,
        type: str(m.type),
        message: str(m.message),
        logs,
        truncated,
      });
    }
    const out = this.checkOutput(m.json);
    this.write({
      t: "result",
      id,
      logs,
      ...out,
      truncated: truncated || out.truncated === true,
    });
  }
  // Authoritative output check: the Worker's realm belongs to the plugin, so re-measure here.
  checkOutput(json) {
    if (typeof json !== "string") {
      return {
        ok: false,
        type: "invalid_output",
        message: "plugin output is not JSON text",
      };
    }
    const max = this.spec.maxOutputBytes;
    if (json.length > max / 3) {
      const bytes = encoder.encode(json);
      if (bytes.length > max) {
        return {
          ok: false,
          type: "invalid_output",
          message:
            `plugin output is ${bytes.length} bytes, more than limits.max_output_bytes (${max})`,
          output: new TextDecoder().decode(bytes.subarray(0, max)),
          truncated: true,
        };
      }
    }
    try {
      return {
        ok: true,
        value: JSON.parse(json),
      };
    } catch {
      return {
        ok: false,
        type: "invalid_output",
        message: "plugin output is not valid JSON",
      };
    }
  }
  boundLogs(raw) {
    if (!Array.isArray(raw)) {
      return {
        logs: [],
        truncated: false,
      };
    }
    const logs = [];
    let bytes = 0;
    for (const line of raw) {
      if (typeof line !== "string") continue;
      bytes += line.length + 1;
      if (bytes > this.spec.maxOutputBytes || logs.length > this.spec.maxLogLines) {
        return {
          logs,
          truncated: true,
        };
      }
      logs.push(line);
    }
    return {
      logs,
      truncated: false,
    };
  }
  watchMemory() {
    every(RSS_POLL_MS, () => {
      const rss = Deno.memoryUsage().rss;
      if (rss > this.spec.rssLimitBytes) {
        this.write({
          t: "oom",
          rss,
          limit: this.spec.rssLimitBytes,
        });
        Deno.exit(EXIT_HOST_OOM);
      }
      const idle = this.idleFrom;
      if (idle === void 0) return;
      const cpu = cpuMicros();
      if (cpu - idle.cpu > this.spec.maxIdleCpuMs * 1e3) Deno.exit(EXIT_HOST_IDLE_CPU);
      if (performance.now() - idle.at >= IDLE_CPU_WINDOW_MS) {
        this.idleFrom = {
          at: performance.now(),
          cpu,
        };
      }
    });
  }
};
function every(ms, fn) {
  AbortSignal.timeout(ms).onabort = () => {
    fn();
    every(ms, fn);
  };
}
function cpuMicros() {
  const u = cpuUsage();
  return u.user + u.system;
}
function str(v) {
  return typeof v === "string" ? v.slice(0, 4e3) : "";
}
async function runPluginHost() {
  let host;
  let bad = false;
  const reader = new BoundedLineReader(MAX_PARENT_LINE_BYTES, (line) => {
    let frame;
    try {
      frame = JSON.parse(line);
    } catch {
      bad = true;
      return;
    }
    if (frame.t === "init" && !host) {
      host = new Host(frame);
      host.watchMemory();
      host.start();
    } else if (frame.t === "call" && host) host.call(frame);
    else bad = true;
  }, () => bad = true);
  const buf = new Uint8Array(STDIN_CHUNK_BYTES);
  for (;;) {
    const n = await Deno.stdin.read(buf);
    if (n === null) return 0;
    reader.push(buf.subarray(0, n));
    if (bad) {
      console.error("plugin-host: protocol error from parent");
      return 2;
    }
  }
}
if (import.meta.main) Deno.exit(await runPluginHost());
export { runPluginHost };
