/**
 * The `plugin-host` child: reads its spec from the parent on stdin, starts the plugin in a Worker
 * with exactly the manifest's permissions, relays calls, and enforces what the Worker's realm
 * cannot be trusted to: output size, JSON validity, log bounds, and a process RSS ceiling.
 *
 * In `deno run` mode the parent runs this file's JavaScript, core/plugin/js/host_main.js (a lean
 * entry: no CLI dispatch, no npm, nothing to transpile; scripts/plugin_host_js.ts writes it), and
 * in compiled mode `iatp plugin-host`, which calls {@linkcode runPluginHost} too.
 * @module
 */
import {
  BoundedLineReader,
  type CallFrame,
  EXIT_HOST_IDLE_CPU,
  EXIT_HOST_OOM,
  EXIT_WORKER_DIED,
  type InitFrame,
} from "./protocol.ts";

/** How often the host samples its own RSS (ArrayBuffers are outside the V8 heap cap). */
const RSS_POLL_MS = 50;
/** Between calls, `maxIdleCpuMs` is the CPU a host may use in each window of this length. */
const IDLE_CPU_WINDOW_MS = 10_000;
/** Bytes read from the parent at a time. */
const STDIN_CHUNK_BYTES = 64 * 1024;
/** Longest line the host accepts from its parent (init with config, or one request). */
const MAX_PARENT_LINE_BYTES = 80 * 1024 * 1024;

const encoder = new TextEncoder();
/** The Worker bootstrap beside this file: the generated JavaScript when this file is it. */
const WORKER_ENTRY = import.meta.url.endsWith(".js") ? "./worker_entry.js" : "./worker_entry.ts";

type CpuUsage = () => { user: number; system: number };
/**
 * CPU time of the whole process, from `Deno.cpuUsage()` (getrusage: every thread, the plugin's
 * Workers too), the function `node:process`'s `cpuUsage()` calls; Deno's type declarations leave
 * it out. Importing `node:process` instead would load Deno's Node compatibility layer, which the
 * runtime compiles afresh at each host start (the host has no cache to keep compiled code in):
 * about 25 ms more CPU at a cold start and 6 MiB more resident per warm host. The host imports no
 * `node:` module at all; `node:process` is the fallback for a runtime without `Deno.cpuUsage`.
 */
const cpuUsage: CpuUsage = (Deno as unknown as { cpuUsage?: CpuUsage }).cpuUsage ??
  (await import("node:process")).cpuUsage;

interface Pending {
  id: number;
}

/** Host state for one session. */
class Host {
  worker!: Worker;
  pending: Pending | undefined;
  /**
   * While idle (ready, or a call answered): when the current window of
   * {@linkcode IDLE_CPU_WINDOW_MS} began and the process CPU time (µs) then; undefined while a
   * call runs. A plugin's timer or own Worker that keeps working after its call returned is
   * bounded by nothing else: the call's timeout ended with the call.
   */
  idleFrom: { at: number; cpu: number } | undefined;
  constructor(readonly spec: InitFrame) {}

  write(frame: Record<string, unknown>): void {
    if (frame.t === "ready" || frame.t === "result") {
      this.idleFrom = { at: performance.now(), cpu: cpuMicros() };
    }
    const bytes = encoder.encode(`${this.spec.token} ${JSON.stringify(frame)}\n`);
    let off = 0;
    while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
  }

  start(): void {
    // Run as core/plugin/js/host_main.js, the host starts the generated worker_entry.js beside it.
    const url = new URL(WORKER_ENTRY, import.meta.url);
    this.worker = new Worker(url, {
      type: "module",
      name: `plugin:${this.spec.plugin.id}`,
      deno: { permissions: this.spec.permissions },
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

  call(frame: CallFrame): void {
    this.idleFrom = undefined;
    this.pending = { id: frame.id };
    this.worker.postMessage(frame);
  }

  onWorkerDied(message: string): void {
    const type = /Requires \w+ access|NotCapable|Can't escalate/.test(message)
      ? "denied"
      : "crashed";
    const msg = `plugin worker died: ${String(message).slice(0, 2000)}`;
    if (this.pending) {
      this.write({ t: "result", id: this.pending.id, ok: false, type, message: msg, logs: [] });
    } else this.write({ t: "fatal", type, message: msg });
    Deno.exit(EXIT_WORKER_DIED);
  }

  onWorkerMessage(raw: unknown): void {
    const m = (raw ?? {}) as Record<string, unknown>;
    const { logs, truncated: logsCut } = this.boundLogs(m.logs);
    const overPrinted = typeof m.overPrinted === "number" ? m.overPrinted : 0;
    if (m.t === "ready" || m.t === "fatal") {
      if (m.t === "ready") this.write({ t: "ready", logs });
      else this.write({ t: "fatal", type: str(m.type), message: str(m.message), logs });
      return;
    }
    if (m.t !== "result" || !this.pending || m.id !== this.pending.id) return;
    const id = this.pending.id;
    this.pending = undefined;
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
    this.write({ t: "result", id, logs, ...out, truncated: truncated || out.truncated === true });
  }

  // Authoritative output check: the Worker's realm belongs to the plugin, so re-measure here.
  checkOutput(json: unknown): Record<string, unknown> {
    if (typeof json !== "string") {
      return { ok: false, type: "invalid_output", message: "plugin output is not JSON text" };
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
      return { ok: true, value: JSON.parse(json) };
    } catch {
      return { ok: false, type: "invalid_output", message: "plugin output is not valid JSON" };
    }
  }

  boundLogs(raw: unknown): { logs: string[]; truncated: boolean } {
    if (!Array.isArray(raw)) return { logs: [], truncated: false };
    const logs: string[] = [];
    let bytes = 0;
    for (const line of raw) {
      if (typeof line !== "string") continue;
      bytes += line.length + 1;
      if (bytes > this.spec.maxOutputBytes || logs.length > this.spec.maxLogLines) {
        return { logs, truncated: true };
      }
      logs.push(line);
    }
    return { logs, truncated: false };
  }

  watchMemory(): void {
    every(RSS_POLL_MS, () => {
      const rss = Deno.memoryUsage().rss;
      if (rss > this.spec.rssLimitBytes) {
        this.write({ t: "oom", rss, limit: this.spec.rssLimitBytes });
        Deno.exit(EXIT_HOST_OOM);
      }
      const idle = this.idleFrom;
      if (idle === undefined) return;
      const cpu = cpuMicros();
      if (cpu - idle.cpu > this.spec.maxIdleCpuMs * 1000) Deno.exit(EXIT_HOST_IDLE_CPU);
      // A light timer (a poll a minute) never adds up to the budget within one window.
      if (performance.now() - idle.at >= IDLE_CPU_WINDOW_MS) {
        this.idleFrom = { at: performance.now(), cpu };
      }
    });
  }
}

/**
 * Runs `fn` every `ms` until the process exits, on `AbortSignal.timeout()`: the global
 * `setTimeout`/`setInterval` are built on Deno's Node timers, a graph of Node-layer modules that a
 * host without a code cache would compile at every start (as it would the streams behind
 * `Deno.stdin.readable`). The process ends by `Deno.exit()` when its parent goes away.
 */
function every(ms: number, fn: () => void): void {
  AbortSignal.timeout(ms).onabort = () => {
    fn();
    every(ms, fn);
  };
}

/** CPU time of the whole host process (every thread, the plugin's Workers too), in µs. */
function cpuMicros(): number {
  const u = cpuUsage();
  return u.user + u.system;
}

function str(v: unknown): string {
  return typeof v === "string" ? v.slice(0, 4000) : "";
}

/** Runs the host until stdin closes (the parent went away). Returns the exit code. */
export async function runPluginHost(): Promise<number> {
  let host: Host | undefined;
  let bad = false;
  const reader = new BoundedLineReader(MAX_PARENT_LINE_BYTES, (line) => {
    let frame: InitFrame | CallFrame;
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
