/**
 * Worker bootstrap inside `plugin-host`: loads the plugin module, gives it a context (config and a
 * bounded logger), runs one call per message and posts back JSON text.
 *
 * This realm is shared with the plugin, so nothing here is trusted by the host: the host re-checks
 * sizes and JSON validity, and the parent scrubs secrets from logs. What this file does is make
 * the honest path cheap and the common mistakes (non-JSON, throwing, printing too much) typed.
 * @module
 */
/// <reference lib="deno.worker" />

interface InitMsg {
  t: "init";
  entryUrl: string;
  config: Record<string, unknown>;
  plugin: { id: string; version: string; kind: string };
  maxOutputBytes: number;
  maxLogLines: number;
  maxEvents: number;
}
interface CallMsg {
  t: "call";
  id: number;
  method: "detect" | "execute" | "send" | "health";
  arg?: unknown;
}
type PluginModule = Record<string, unknown>;

let mod: PluginModule = {};
let init: InitMsg;
let logs: string[] = [];
let logBytes = 0;
let logsDropped = 0;

function format(args: unknown[]): string {
  return args.map((a) => typeof a === "string" ? a : Deno.inspect(a, { depth: 4 })).join(" ");
}

function addLog(level: string, msg: string, fields?: unknown): void {
  let line = `[${new Date().toISOString()}] ${level}: ${String(msg)}`;
  if (fields !== undefined) {
    try {
      line += " " + JSON.stringify(fields);
    } catch {
      line += " [unserializable fields]";
    }
  }
  logBytes += line.length + 1;
  // Count every byte printed, but keep only what fits: the budget is the output bound.
  if (logBytes > init.maxOutputBytes || logs.length >= init.maxLogLines) {
    logsDropped++;
    return;
  }
  logs.push(line);
}

function installConsole(): void {
  const toLog = (level: string) => (...args: unknown[]) => addLog(level, format(args));
  const c = globalThis.console as unknown as Record<string, unknown>;
  for (
    const [name, level] of Object.entries({
      log: "info",
      info: "info",
      debug: "debug",
      warn: "warn",
      error: "error",
      trace: "debug",
      dir: "info",
      table: "info",
    })
  ) c[name] = toLog(level);
}

const ctxLog = {
  debug: (m: string, f?: Record<string, unknown>) => addLog("debug", m, f),
  info: (m: string, f?: Record<string, unknown>) => addLog("info", m, f),
  warn: (m: string, f?: Record<string, unknown>) => addLog("warn", m, f),
  error: (m: string, f?: Record<string, unknown>) => addLog("error", m, f),
};

const DENIED =
  /(Requires (read|write|net|env|run|sys|ffi|import|all) access|Can't escalate parent thread permissions|NotCapable)/;

function classify(err: unknown): { type: string; message: string } {
  const e = err as { name?: string; message?: string };
  const message = String(e?.message ?? err).slice(0, 2000);
  const denied = err instanceof Deno.errors.NotCapable ||
    err instanceof Deno.errors.PermissionDenied || DENIED.test(message) ||
    e?.name === "NotCapable";
  return { type: denied ? "denied" : "error", message };
}

function takeLogs(): { logs: string[]; truncated: boolean; overPrinted: number } {
  const out = { logs, truncated: logsDropped > 0, overPrinted: 0 };
  if (logBytes > init.maxOutputBytes) out.overPrinted = logBytes;
  if (logsDropped > 0) out.logs.push(`[${logsDropped} log lines dropped]`);
  logs = [];
  logBytes = 0;
  logsDropped = 0;
  return out;
}

async function collect(value: unknown): Promise<{ value: unknown; cut: boolean }> {
  const it = value as AsyncIterable<unknown> | null;
  if (!it || typeof it !== "object" || !(Symbol.asyncIterator in it)) {
    return { value, cut: false };
  }
  const events: unknown[] = [];
  for await (const ev of it) {
    if (events.length >= init.maxEvents) return { value: events, cut: true };
    events.push(ev);
  }
  return { value: events, cut: false };
}

async function call(msg: CallMsg): Promise<Record<string, unknown>> {
  const ctx = { config: init.config, log: ctxLog, plugin: init.plugin };
  const fn = mod[msg.method];
  if (typeof fn !== "function") {
    if (msg.method === "health") return { ok: true, json: '{"status":"ok"}' };
    return { ok: false, type: "error", message: `plugin does not export ${msg.method}()` };
  }
  try {
    const raw = msg.method === "health"
      ? await fn()
      : msg.method === "detect"
      ? await fn(ctx)
      : await fn(ctx, msg.arg);
    const { value, cut } = await collect(raw);
    if (typeof value === "function" || typeof value === "symbol" || typeof value === "bigint") {
      return { ok: false, type: "invalid_output", message: `plugin returned a ${typeof value}` };
    }
    let json: string;
    try {
      json = JSON.stringify(value === undefined ? null : value);
    } catch (err) {
      return {
        ok: false,
        type: "invalid_output",
        message: `plugin output is not JSON: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    return { ok: true, json, cut };
  } catch (err) {
    return { ok: false, ...classify(err) };
  }
}

/**
 * `Deno.exit()` or `close()` in a Worker ends the Worker without a word to its host, whose call
 * would then wait out its whole timeout (up to an hour). Both throw instead: in a call, the call
 * fails with the reason at once; in a timer, the Worker's error makes the host report `crashed`.
 */
function refuseSelfExit(): void {
  const refuse = (what: string) => () => {
    throw new Error(`plugin called ${what}: a plugin returns or throws, it does not exit`);
  };
  Deno.exit = refuse("Deno.exit()") as typeof Deno.exit;
  (globalThis as { close: () => void }).close = refuse("close()");
}

self.onmessage = async (e: MessageEvent<InitMsg | CallMsg>) => {
  const msg = e.data;
  if (msg.t === "init") {
    init = msg;
    installConsole();
    // A host process started with --expose-gc (a compiled binary built with the sensor's or the
    // action's V8 flags runs its plugin hosts with them) would hand the plugin V8's `gc`: it could
    // only stall its own isolate within its timeout, but a plugin has no use for it. (V8 makes
    // the property non-configurable but writable: it cannot be deleted, only overwritten.)
    const g = globalThis as { gc?: unknown };
    if (g.gc !== undefined) g.gc = undefined;
    refuseSelfExit();
    try {
      mod = await import(msg.entryUrl);
      if (typeof mod.init === "function") await mod.init(msg.config);
      self.postMessage({ t: "ready", ...takeLogs() });
    } catch (err) {
      self.postMessage({ t: "fatal", ...classify(err), ...takeLogs() });
    }
    return;
  }
  const res = await call(msg);
  self.postMessage({ t: "result", id: msg.id, ...res, ...takeLogs() });
};
