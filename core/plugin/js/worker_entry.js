// deno-lint-ignore-file
// Generated from core/plugin/worker_entry.ts by scripts/plugin_host_js.ts: do not edit; run the
// script after changing the TypeScript. The plugin host runs this file (no transpiling).
// core/plugin/worker_entry.ts
var mod = {};
var init;
var logs = [];
var logBytes = 0;
var logsDropped = 0;
function format(args) {
  return args.map((a) =>
    typeof a === "string" ? a : Deno.inspect(a, {
      depth: 4,
    })
  ).join(" ");
}
function addLog(level, msg, fields) {
  let line = `[${(/* @__PURE__ */ new Date()).toISOString()}] ${level}: ${String(msg)}`;
  if (fields !== void 0) {
    try {
      line += " " + JSON.stringify(fields);
    } catch {
      line += " [unserializable fields]";
    }
  }
  logBytes += line.length + 1;
  if (logBytes > init.maxOutputBytes || logs.length >= init.maxLogLines) {
    logsDropped++;
    return;
  }
  logs.push(line);
}
function installConsole() {
  const toLog = (level) => (...args) => addLog(level, format(args));
  const c = globalThis.console;
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
var ctxLog = {
  debug: (m, f) => addLog("debug", m, f),
  info: (m, f) => addLog("info", m, f),
  warn: (m, f) => addLog("warn", m, f),
  error: (m, f) => addLog("error", m, f),
};
var DENIED =
  /(Requires (read|write|net|env|run|sys|ffi|import|all) access|Can't escalate parent thread permissions|NotCapable)/;
function classify(err) {
  const e = err;
  const message = String(e?.message ?? err).slice(0, 2e3);
  const denied = err instanceof Deno.errors.NotCapable ||
    err instanceof Deno.errors.PermissionDenied || DENIED.test(message) || e?.name === "NotCapable";
  return {
    type: denied ? "denied" : "error",
    message,
  };
}
function takeLogs() {
  const out = {
    logs,
    truncated: logsDropped > 0,
    overPrinted: 0,
  };
  if (logBytes > init.maxOutputBytes) out.overPrinted = logBytes;
  if (logsDropped > 0) out.logs.push(`[${logsDropped} log lines dropped]`);
  logs = [];
  logBytes = 0;
  logsDropped = 0;
  return out;
}
async function collect(value) {
  const it = value;
  if (!it || typeof it !== "object" || !(Symbol.asyncIterator in it)) {
    return {
      value,
      cut: false,
    };
  }
  const events = [];
  for await (const ev of it) {
    if (events.length >= init.maxEvents) {
      return {
        value: events,
        cut: true,
      };
    }
    events.push(ev);
  }
  return {
    value: events,
    cut: false,
  };
}
async function call(msg) {
  const ctx = {
    config: init.config,
    log: ctxLog,
    plugin: init.plugin,
  };
  const fn = mod[msg.method];
  if (typeof fn !== "function") {
    if (msg.method === "health") {
      return {
        ok: true,
        json: '{"status":"ok"}',
      };
    }
    return {
      ok: false,
      type: "error",
      message: `plugin does not export ${msg.method}()`,
    };
  }
  try {
    const raw = msg.method === "health"
      ? await fn()
      : msg.method === "detect"
      ? await fn(ctx)
      : await fn(ctx, msg.arg);
    const { value, cut } = await collect(raw);
    if (typeof value === "function" || typeof value === "symbol" || typeof value === "bigint") {
      return {
        ok: false,
        type: "invalid_output",
        message: `plugin returned a ${typeof value}`,
      };
    }
    let json;
    try {
      json = JSON.stringify(value === void 0 ? null : value);
    } catch (err) {
      return {
        ok: false,
        type: "invalid_output",
        message: `plugin output is not JSON: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    return {
      ok: true,
      json,
      cut,
    };
  } catch (err) {
    return {
      ok: false,
      ...classify(err),
    };
  }
}
function refuseSelfExit() {
  const refuse = (what) => () => {
    throw new Error(`plugin called ${what}: a plugin returns or throws, it does not exit`);
  };
  Deno.exit = refuse("Deno.exit()");
  globalThis.close = refuse("close()");
}
self.onmessage = async (e) => {
  const msg = e.data;
  if (msg.t === "init") {
    init = msg;
    installConsole();
    const g = globalThis;
    if (g.gc !== void 0) g.gc = void 0;
    refuseSelfExit();
    try {
      mod = await import(msg.entryUrl);
      if (typeof mod.init === "function") await mod.init(msg.config);
      self.postMessage({
        t: "ready",
        ...takeLogs(),
      });
    } catch (err) {
      self.postMessage({
        t: "fatal",
        ...classify(err),
        ...takeLogs(),
      });
    }
    return;
  }
  const res = await call(msg);
  self.postMessage({
    t: "result",
    id: msg.id,
    ...res,
    ...takeLogs(),
  });
};
