/**
 * PluginRunner: a warm pool of sandboxed plugin-host children for one plugin (contract 3).
 *
 * Calls take an idle host (or start one, up to `poolSize`), or wait in a bounded queue. A host is
 * recycled (killed, replaced on demand) after any failed call or after `maxCallsPerHost` calls,
 * so one bad call never poisons the next.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Logger, registerSecret, scrubString, silentLogger } from "../log/mod.ts";
import { secretValues, validatePluginConfig } from "./config.ts";
import { failure, type PluginResult } from "./errors.ts";
import { computeGrants, HOST_RSS_OVERHEAD_MB, hostCommand, workerPermissions } from "./grants.ts";
import { type HostSpec, PluginHost } from "./host.ts";
import { checkCodeWrites, linksProblem, type LoadedPlugin } from "./load.ts";
import type { PluginMethod } from "./protocol.ts";
import type { TriggerEvent } from "./contract.ts";
import { checkEvents } from "./events.ts";
import { errorMessage } from "../errors/mod.ts";
import { permittedEnv } from "../config/mod.ts";

/** Default number of warm hosts per plugin. */
const DEFAULT_POOL_SIZE = 1;
/** Largest pool accepted. */
const MAX_POOL_SIZE = 64;
/** Default calls a host serves before it is replaced. */
const DEFAULT_MAX_CALLS_PER_HOST = 1000;
/** Default bound on callers waiting for a free host. */
const DEFAULT_MAX_QUEUE = 1000;
/** Default time a host may take to load the plugin and run its init(). */
const DEFAULT_START_TIMEOUT_MS = 30_000;
/** Default log lines kept per call. */
const DEFAULT_MAX_LOG_LINES = 1000;
/** Default trigger events kept per detect() call. */
const DEFAULT_MAX_EVENTS = 1000;
/** Largest request or data payload sent to a plugin, in bytes. */
const DEFAULT_MAX_INPUT_BYTES = 16 * 1024 * 1024;
/** Default CPU time a host may spend in each 10 s between calls (a plugin's leftover timers, Workers). */
const DEFAULT_MAX_IDLE_CPU_MS = 1000;

/** Options for {@linkcode PluginRunner} (contract 3, plus bounds with defaults). */
export interface RunnerOptions {
  config: Record<string, unknown>;
  poolSize?: number;
  maxCallsPerHost?: number;
  log?: Logger;
  /** Values for the env vars the manifest declares (others are ignored); PATH for `run`. */
  env?: Record<string, string>;
  maxQueue?: number;
  startTimeoutMs?: number;
  maxLogLines?: number;
  maxEvents?: number;
  maxInputBytes?: number;
  /** CPU time (ms) a host may use in each 10 s between calls before it is stopped; default 1000. */
  maxIdleCpuMs?: number;
}

/** A warm pool of sandboxed hosts for one plugin. */
export class PluginRunner {
  /** The validated config, defaults applied. */
  readonly config: Record<string, unknown>;
  #spec: HostSpec;
  #opts: Required<Omit<RunnerOptions, "config" | "log" | "env">>;
  #log: Logger;
  #idle: PluginHost[] = [];
  #all = new Set<PluginHost>();
  #starting = 0;
  #waiters: Array<() => void> = [];
  #closed = false;

  /** Validates config and computes grants; throws PluginError("invalid_config") naming the field. */
  constructor(readonly plugin: LoadedPlugin, opts: RunnerOptions) {
    const m = plugin.manifest;
    this.config = validatePluginConfig(m, opts.config ?? {});
    this.#log = (opts.log ?? silentLogger).child({ plugin: m.id });
    this.#opts = {
      poolSize: Math.min(Math.max(1, opts.poolSize ?? DEFAULT_POOL_SIZE), MAX_POOL_SIZE),
      maxCallsPerHost: Math.max(1, opts.maxCallsPerHost ?? DEFAULT_MAX_CALLS_PER_HOST),
      maxQueue: opts.maxQueue ?? DEFAULT_MAX_QUEUE,
      startTimeoutMs: opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
      maxLogLines: opts.maxLogLines ?? DEFAULT_MAX_LOG_LINES,
      maxEvents: opts.maxEvents ?? DEFAULT_MAX_EVENTS,
      maxInputBytes: opts.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES,
      maxIdleCpuMs: opts.maxIdleCpuMs ?? DEFAULT_MAX_IDLE_CPU_MS,
    };
    const grants = computeGrants(plugin.dir, m, this.config);
    checkCodeWrites(plugin, grants.write);
    const secrets = secretValues(m, this.config);
    // Process-wide too: a secret must not reach any log line of the agent either.
    secrets.forEach(registerSecret);
    const scrubSecrets = (s: string) =>
      scrubString(secrets.reduce((acc, sec) => acc.split(sec).join("[REDACTED]"), s));
    const hidePlaces = placeHider(plugin.dir);
    this.#spec = {
      command: hostCommand(plugin.dir, grants, m.limits, childEnv(grants, opts.env)),
      init: {
        entryUrl: pathToFileURL(join(plugin.dir, m.entry)).href,
        plugin: { id: m.id, version: m.version, kind: m.kind },
        config: this.config,
        permissions: workerPermissions(plugin.dir, grants),
        maxOutputBytes: m.limits.max_output_bytes,
        rssLimitBytes: (m.limits.memory_mb + HOST_RSS_OVERHEAD_MB) * 1024 * 1024,
        maxLogLines: this.#opts.maxLogLines,
        maxEvents: this.#opts.maxEvents,
        maxIdleCpuMs: this.#opts.maxIdleCpuMs,
      },
      startTimeoutMs: Math.max(this.#opts.startTimeoutMs, m.limits.timeout_ms),
      scrub: (s) => hidePlaces(scrubSecrets(s)),
      scrubLocal: scrubSecrets,
      log: this.#log,
    };
  }

  /** The child command line (for `iatp plugin validate` and docs). */
  get command(): HostSpec["command"] {
    return this.#spec.command;
  }

  /** Runs a trigger plugin's detect(); events are shape-checked, missing id/source/timestamp filled. */
  async detect(): Promise<PluginResult<TriggerEvent[]>> {
    const r = await this.#call("detect", undefined, "trigger");
    if (!r.ok) return r;
    const checked = checkEvents(r.value, this.plugin.manifest.id, this.#opts.maxEvents);
    if (typeof checked === "string") {
      return failure("invalid_output", checked, { logs: r.logs, duration_ms: r.duration_ms });
    }
    return { ...r, value: checked };
  }

  /** Runs an action plugin's execute(request). */
  execute(
    request: unknown,
    opts: { timeoutMs?: number; instructionId?: string } = {},
  ): Promise<PluginResult<unknown>> {
    return this.#call("execute", request, "action", opts.timeoutMs);
  }

  /** Runs an output plugin's send(data). */
  send(data: unknown): Promise<PluginResult<unknown>> {
    return this.#call("send", data, "output");
  }

  /** Runs the plugin's health() (default `{status: "ok"}`). */
  health(): Promise<PluginResult<unknown>> {
    return this.#call("health", undefined, undefined);
  }

  /** Starts one host ahead of the first call, so that call is warm. */
  async warm(): Promise<PluginResult<null>> {
    const h = await this.#acquire();
    if (!(h instanceof PluginHost)) return h;
    this.#release(h, false);
    return { ok: true, value: null, logs: [], duration_ms: 0, truncated: false };
  }

  /** Process ids of the live hosts (for metrics: RSS per warm plugin). */
  hostPids(): number[] {
    return [...this.#all].map((h) => h.pid);
  }

  /** Live hosts, idle hosts, waiting callers. */
  stats(): { hosts: number; idle: number; waiting: number } {
    return { hosts: this.#all.size, idle: this.#idle.length, waiting: this.#waiters.length };
  }

  /** Kills every host and waits until they are reaped. Later calls fail fast. */
  async close(): Promise<void> {
    this.#closed = true;
    const hosts = [...this.#all];
    this.#all.clear();
    this.#idle = [];
    hosts.forEach((h) => h.kill());
    this.#waiters.splice(0).forEach((w) => w());
    await Promise.all(hosts.map((h) => h.closed));
  }

  async #call(
    method: PluginMethod,
    arg: unknown,
    kind: "trigger" | "action" | "output" | undefined,
    timeoutMs?: number,
  ): Promise<PluginResult<unknown>> {
    const m = this.plugin.manifest;
    if (kind && m.kind !== kind) {
      return failure("error", `plugin ${m.id} is a ${m.kind} plugin; ${method}() needs a ${kind}`);
    }
    const tooBig = inputProblem(arg, this.#opts.maxInputBytes);
    if (tooBig) return failure("error", tooBig);
    const t0 = performance.now();
    const h = await this.#acquire();
    if (!(h instanceof PluginHost)) return h;
    const r = await h.call(method, arg, timeoutMs ?? m.limits.timeout_ms);
    this.#release(h, !r.ok);
    // A call cut short by close() (the agent stopping) is no failure to warn of.
    if (!r.ok && !this.#closed) {
      this.#log.warn("plugin call failed", { method, type: r.error.type, pid: h.pid });
    }
    // duration_ms covers what the caller waited, including a cold start.
    return { ...r, duration_ms: Math.round((performance.now() - t0) * 1000) / 1000 };
  }

  async #acquire(): Promise<PluginHost | PluginResult<never>> {
    while (!this.#closed) {
      const idle = this.#idle.pop();
      if (idle) {
        if (idle.alive) return idle;
        this.#all.delete(idle);
        continue;
      }
      if (this.#all.size + this.#starting < this.#opts.poolSize) return await this.#spawn();
      if (this.#waiters.length >= this.#opts.maxQueue) {
        return failure(
          "error",
          `plugin ${this.plugin.manifest.id}: queue full (${this.#opts.maxQueue} waiting)`,
        );
      }
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    return failure("error", "plugin runner is closed");
  }

  async #spawn(): Promise<PluginHost | PluginResult<never>> {
    this.#starting++;
    let h: PluginHost;
    // The folder may have changed since it was loaded: a link out is refused before each start.
    const links = await linksProblem(this.plugin);
    if (links) {
      this.#starting--;
      this.#wake();
      return links;
    }
    try {
      h = new PluginHost(this.#spec);
    } catch (err) {
      this.#starting--;
      this.#wake();
      // The OS's refusal names this install's runtime path: the local log keeps it.
      const incident = crypto.randomUUID().slice(0, 8);
      this.#log.warn("cannot start plugin host", { incident, err: errorMessage(err) });
      return failure(
        "crashed",
        `cannot start plugin host; details in the local log, incident ${incident}`,
      );
    }
    const r = await h.start();
    this.#starting--;
    if (!r.ok || this.#closed) {
      h.kill();
      this.#wake();
      return r.ok ? failure("error", "plugin runner is closed") : r as PluginResult<never>;
    }
    this.#all.add(h);
    this.#log.debug("plugin host started", { pid: h.pid, ms: r.duration_ms });
    return h;
  }

  #release(h: PluginHost, failed: boolean): void {
    if (failed || !h.alive || h.calls >= this.#opts.maxCallsPerHost || this.#closed) {
      h.kill();
      this.#all.delete(h);
    } else this.#idle.push(h);
    this.#wake();
  }

  #wake(): void {
    this.#waiters.shift()?.();
  }
}

/** This checkout (or the compiled binary's embedded tree): the runtime's own files. */
const RUNTIME_ROOT = new URL("../../", import.meta.url);

/**
 * What a result may say of where things are: the plugin's folder as `<plugin>/` and the
 * runtime's as `<iatp>/`, as paths or `file:` URLs, and no stack frame of the runtime's own code
 * (the host's bootstrap, Deno's `ext:` internals). A plugin's error or log line that quotes a file
 * of its folder, or an Error's stack (`console.error(err)`), would name the agent's install paths
 * and internals to whoever reads the result; frames of the plugin's own code are kept.
 */
function placeHider(pluginDir: string): (s: string) => string {
  const dir = pluginDir.replace(/\/+$/, "");
  const pairs: Array<[string, string]> = [
    [`${pathToFileURL(dir).href}/`, "<plugin>/"],
    [`${dir}/`, "<plugin>/"],
    [RUNTIME_ROOT.href, "<iatp>/"],
  ];
  if (RUNTIME_ROOT.protocol === "file:") pairs.push([fileURLToPath(RUNTIME_ROOT), "<iatp>/"]);
  return (s) => {
    let out = s;
    for (const [from, to] of pairs) if (out.includes(from)) out = out.split(from).join(to);
    return out.replace(RUNTIME_FRAME, "");
  };
}

/** A stack line of the runtime's code, once its paths are hidden. */
const RUNTIME_FRAME = /\n[ \t]+at [^\n]*(?:<iatp>\/|\(ext:|at ext:)[^\n]*/g;

function inputProblem(arg: unknown, max: number): string | undefined {
  if (arg === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(arg);
  } catch (err) {
    return `plugin input is not JSON: ${errorMessage(err)}`;
  }
  if (json !== undefined && json.length > max) {
    return `plugin input is ${json.length} characters, more than ${max}`;
  }
  return undefined;
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The plugin host's DENO_DIR: a path no folder can be made at. The runtime writes its caches
 * there without asking any permission, and one of them is the Web Cache API (`caches`), which
 * every realm of the host has, the plugin's own Workers too: with a usable DENO_DIR a plugin
 * could write without a `write` grant, without bound, into a store every plugin host of the
 * user shares (one plugin could hand another what it read). Here `caches.open()` fails. A usable
 * cache would also take whatever a plugin writes as `data:` or `blob:` TypeScript modules, again
 * without a grant or a bound. Nothing compiled is kept, so the host is made to need no cache: it
 * runs generated JavaScript (js/host_main.js) and loads none of the runtime's modules that are
 * compiled at first use (tests/core/plugin/host_js_test.ts); a cold start compiles the plugin's only.
 */
const HOST_DENO_DIR = "/dev/null/iatp-plugin-host";

// The child starts from an empty environment: only the declared variables, plus PATH so a
// declared command can be found. The Deno runtime finds its cache without HOME.
function childEnv(grants: { env: string[]; run: string[] }, given?: Record<string, string>) {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of grants.env) {
    const v = given?.[name] ?? permittedEnv(name);
    if (v !== undefined) env[name] = v;
  }
  if (grants.run.length > 0) env.PATH = given?.PATH ?? permittedEnv("PATH") ?? DEFAULT_PATH;
  env.DENO_DIR = HOST_DENO_DIR;
  // Transpiled modules are not kept either: writing each one there fails, and the runtime tries
  // again with a growing sleep (about 0.15 s a module) before it goes on without.
  env.DENO_EMIT_CACHE_MODE = "disable";
  return env;
}
