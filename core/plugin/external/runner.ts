/**
 * ExternalRunner: runs an external-runtime (Python) plugin inside the bubblewrap sandbox with
 * the same timeout and output caps as Deno plugins, speaking whichever protocol its manifest
 * names: `lines` (06-Plugins: one long-lived process, JSON requests and answers one per line on
 * stdin/stdout), `argv` (01-Agents' executor: one process per call, `--input input.json`,
 * stdout parsed as JSON), or `rpc` (Machine-Data-Extractor: argv flags from the config, and
 * the agent's JSON-RPC socket for report_trigger / upload_logs).
 * @module
 */
import { join } from "node:path";
import { errorMessage } from "../../errors/mod.ts";
import { delayOf, settledWithin } from "../../async/mod.ts";
import { type Logger, scrubString, silentLogger } from "../../log/mod.ts";
import { secretValues, validatePluginConfig } from "../config.ts";
import { failure, type PluginResult } from "../errors.ts";
import type { TriggerEvent } from "../contract.ts";
import { checkEvents } from "../events.ts";
import { linksProblem, type LoadedPlugin } from "../load.ts";
import { SandboxedProcess } from "./process.ts";
import { agentHandlers, type RpcServer, serveRpc } from "./rpc.ts";
import {
  copyTree,
  probeSandbox,
  SANDBOX_UID,
  SANDBOX_WORK_DIR,
  sandboxCommand,
  type SandboxSpec,
} from "./sandbox.ts";

/** Instruction settings upstream puts in `plugin_configuration`, not plugin config fields. */
const RUN_KEYS = ["entrypoint", "arguments", "environment", "timeout_seconds"];
/** Most trigger events buffered from report_trigger between two detect() calls. */
const MAX_BUFFERED_EVENTS = 1000;
/** CPU seconds of a long-lived plugin process before the kernel stops it (it is restarted). */
const LONG_LIVED_CPU_SECS = 3600;

/** Options for {@linkcode ExternalRunner}. */
export interface ExternalRunnerOptions {
  config: Record<string, unknown>;
  /** Folder under which the runner's private work folder is made (and removed at close). */
  workRoot: string;
  /** Host network shared with the plugin (declared by it and allowed by the agent). */
  network: boolean;
  /** Who the plugin runs for (get_agent_info). */
  agent?: { id: string; version: string; environment: string };
  /** Receives upload_logs lines for an instruction. */
  onLogs?: (instructionId: string | undefined, lines: string[]) => void;
  log?: Logger;
}

type Json = Record<string, unknown>;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A warm (or per-call) sandboxed external plugin; the PluginRunner surface. */
export class ExternalRunner {
  readonly config: Record<string, unknown>;
  readonly #run: Json;
  #work: string;
  #proc: SandboxedProcess | undefined;
  #rpc: RpcServer | undefined;
  #events: TriggerEvent[] = [];
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;
  #asRoot = false;
  #log: Logger;
  #secrets: string[];

  constructor(readonly plugin: LoadedPlugin, readonly opts: ExternalRunnerOptions) {
    const given = { ...opts.config };
    this.#run = {};
    for (const k of RUN_KEYS) {
      if (k in given) [this.#run[k], given[k]] = [given[k], undefined];
      delete given[k];
    }
    this.config = validatePluginConfig(plugin.manifest, given);
    this.#secrets = secretValues(plugin.manifest, this.config);
    this.#log = (opts.log ?? silentLogger).child({ plugin: plugin.manifest.id });
    this.#work = join(opts.workRoot, `${plugin.manifest.id}-${crypto.randomUUID().slice(0, 8)}`);
  }

  get #protocol() {
    return this.plugin.manifest.runtime?.protocol ?? "lines";
  }

  /** The sandbox command of the plugin's main process (for validation output and docs). */
  get command(): { cmd: string; args: string[] } {
    return sandboxCommand(this.#spec([], {}, 1));
  }

  #scrub(s: string): string {
    return scrubString(this.#secrets.reduce((a, x) => a.split(x).join("[REDACTED]"), s));
  }

  #spec(args: string[], env: Record<string, string>, cpuSecs: number): SandboxSpec {
    const m = this.plugin.manifest;
    const entry = typeof this.#run.entrypoint === "string" ? this.#run.entrypoint : m.entry;
    if (entry.startsWith("/") || entry.split("/").includes("..")) {
      throw new Error(`entrypoint ${JSON.stringify(entry)} is outside the plugin folder`);
    }
    return {
      runtime: m.runtime?.type ?? "python",
      // As root, the sandbox user reads a world-readable copy (installed plugins are private).
      pluginDir: this.#asRoot ? join(this.#work, "plugin") : this.plugin.dir,
      asRoot: this.#asRoot,
      entry,
      args,
      workDir: this.#work,
      env: {
        STAVILY_DEMO_MODE: String(this.config.demo_mode ?? "false"),
        ...(this.#rpc ? { STAVILY_AGENT_SOCKET: `${SANDBOX_WORK_DIR}/run/agent.sock` } : {}),
        ...env,
      },
      network: this.opts.network && m.permissions.net.length > 0,
      read: m.permissions.read,
      write: m.permissions.write,
      memoryMb: m.limits.memory_mb,
      cpuSecs,
    };
  }

  async #prepare(): Promise<void> {
    const probe = await probeSandbox();
    if (!probe.ok) throw new Error(probe.reason);
    this.#asRoot = probe.asRoot;
    try {
      await Deno.stat(this.#work);
    } catch {
      await Deno.mkdir(this.#work, { recursive: true, mode: 0o700 });
      if (this.#asRoot) {
        await copyTree(this.plugin.dir, join(this.#work, "plugin"));
        await Deno.chown(this.#work, SANDBOX_UID, SANDBOX_UID);
      }
    }
    if (this.#protocol === "rpc" && !this.#rpc) {
      await Deno.mkdir(join(this.#work, "run"), { recursive: true, mode: 0o755 });
      const path = join(this.#work, "run", "agent.sock");
      this.#rpc = serveRpc(path, this.#handlers());
      await Deno.chmod(path, 0o666);
    }
  }

  #handlers() {
    return agentHandlers({
      manifest: this.plugin.manifest,
      config: this.config,
      agent: this.opts.agent,
      events: this.#events,
      maxEvents: MAX_BUFFERED_EVENTS,
      onLogs: (iid, lines) => this.opts.onLogs?.(iid, lines.map((l) => this.#scrub(l))),
    });
  }

  /** Config as argparse flags (`--name value`; true booleans as bare flags) for `rpc`. */
  #flags(): string[] {
    const out: string[] = [];
    for (const [k, v] of Object.entries(this.config)) {
      if (v === undefined || v === null || v === false || typeof v === "object") continue;
      out.push(`--${k.replaceAll("_", "-")}`);
      if (v !== true) out.push(String(v));
    }
    return out;
  }

  #serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(f, f);
    this.#chain = next.catch(() => {});
    return next;
  }

  /** Runs a trigger plugin once: `detect_triggers` (lines) or the events reported over RPC. */
  detect(): Promise<PluginResult<TriggerEvent[]>> {
    return this.#serial(async () => {
      const t0 = performance.now();
      if (this.plugin.manifest.kind !== "trigger") {
        return failure("error", `plugin ${this.plugin.manifest.id} is not a trigger plugin`);
      }
      const r = this.#protocol === "lines"
        ? await this.#request({ action: "detect_triggers" })
        : await this.#reported();
      if (!r.ok) return r as PluginResult<never>;
      const raw = r.value === null || r.value === undefined
        ? []
        : Array.isArray(r.value)
        ? r.value
        : [r.value];
      const checked = checkEvents(raw, this.plugin.manifest.id, MAX_BUFFERED_EVENTS);
      if (typeof checked === "string") return failure("invalid_output", checked, { logs: r.logs });
      return { ...r, value: checked, duration_ms: Math.round(performance.now() - t0) };
    });
  }

  /** Runs an action plugin once with `request` as its parameters / input data. */
  execute(
    request: unknown,
    opts: { timeoutMs?: number; instructionId?: string } = {},
  ): Promise<PluginResult<unknown>> {
    return this.#serial(async () => {
      const timeoutMs = opts.timeoutMs ?? this.plugin.manifest.limits.timeout_ms;
      const id = opts.instructionId ?? crypto.randomUUID();
      if (this.#protocol === "lines") {
        return await this.#request({
          action: "execute_action",
          action_request: { id, parameters: request ?? {} },
        }, timeoutMs);
      }
      return await this.#oneShot(request, id, timeoutMs);
    });
  }

  /** The plugin's health: `get_health` (lines), or a started sandbox otherwise. */
  health(): Promise<PluginResult<unknown>> {
    if (this.#protocol === "lines") {
      return this.#serial(() => this.#request({ action: "get_health" }));
    }
    return Promise.resolve({
      ok: true,
      value: { status: "ok" },
      logs: [],
      duration_ms: 0,
      truncated: false,
    });
  }

  /** Starts the long-lived process ahead of the first call. */
  async warm(): Promise<PluginResult<null>> {
    const r = await this.#serial(() => this.#ensureStarted());
    return r.ok ? { ...r, value: null } : r as PluginResult<never>;
  }

  /** Process ids of the live sandboxes. */
  hostPids(): number[] {
    return this.#proc && !this.#proc.ended ? [this.#proc.pid] : [];
  }

  /** Live processes, idle, waiting callers (one process per runner). */
  stats(): { hosts: number; idle: number; waiting: number } {
    return { hosts: this.hostPids().length, idle: 0, waiting: 0 };
  }

  /** Stops the plugin (`stop`, EOF, then kill), the RPC socket, and removes the work folder. */
  async close(): Promise<void> {
    this.#closed = true;
    const p = this.#proc;
    this.#proc = undefined;
    if (p) {
      if (this.#protocol === "lines") await p.send(JSON.stringify({ action: "stop" }));
      await p.stop();
    }
    await this.#rpc?.close();
    await Deno.remove(this.#work, { recursive: true }).catch(() => {});
  }

  #fail(
    type: "timeout" | "crashed" | "invalid_output" | "error",
    msg: string,
    p?: SandboxedProcess,
  ) {
    const logs = p ? this.#scrub(p.stderr).split("\n").filter((l) => l).slice(-50) : [];
    return failure<never>(type, this.#scrub(msg), { logs, truncated: p?.overflowed ?? false });
  }

  async #ensureStarted(): Promise<PluginResult<null>> {
    if (this.#closed) return failure("error", "plugin runner is closed");
    if (this.#proc && !this.#proc.ended) {
      return { ok: true, value: null, logs: [], duration_ms: 0, truncated: false };
    }
    const links = await linksProblem(this.plugin);
    if (links) return links;
    await this.#prepare();
    const m = this.plugin.manifest;
    const args = this.#protocol === "rpc" ? this.#flags() : [];
    const p = new SandboxedProcess(
      sandboxCommand(this.#spec(args, {}, LONG_LIVED_CPU_SECS)),
      m.limits.max_output_bytes,
    );
    this.#proc = p;
    if (this.#protocol !== "lines") {
      return { ok: true, value: null, logs: [], duration_ms: 0, truncated: false };
    }
    const init = await this.#exchange(
      p,
      { action: "initialize", config: this.config },
      m.limits.timeout_ms,
    );
    if (!init.ok) return init as PluginResult<never>;
    const start = await this.#exchange(p, { action: "start" }, m.limits.timeout_ms);
    return start.ok ? { ...start, value: null } : start as PluginResult<never>;
  }

  async #request(
    req: Json,
    timeoutMs = this.plugin.manifest.limits.timeout_ms,
  ): Promise<PluginResult<unknown>> {
    const started = await this.#ensureStarted();
    if (!started.ok) return started;
    return await this.#exchange(this.#proc!, req, timeoutMs);
  }

  /** One line-protocol exchange; a dead, silent or garbled plugin is killed and reported. */
  async #exchange(
    p: SandboxedProcess,
    req: Json,
    timeoutMs: number,
  ): Promise<PluginResult<unknown>> {
    const t0 = performance.now();
    const took = () => Math.round(performance.now() - t0);
    if (!(await p.send(JSON.stringify(req)))) {
      return this.#restart(p, "crashed", "plugin stopped reading its input");
    }
    const line = await p.nextLine(timeoutMs);
    if (line === undefined) {
      if (p.overflowed) {
        return this.#restart(p, "invalid_output", `a reply longer than ${p.maxLineBytes} bytes`);
      }
      if (p.ended) {
        return this.#restart(
          p,
          "crashed",
          `plugin exited: ${p.stderr.trim().split("\n").at(-1) ?? ""}`,
        );
      }
      return this.#restart(p, "timeout", `no reply within ${timeoutMs} ms`);
    }
    const res = parseJson(line) as Json | undefined;
    if (!res || typeof res !== "object") {
      return this.#restart(p, "invalid_output", "reply is not a JSON object");
    }
    if (res.success !== true) {
      return {
        ...failure("error", this.#scrub(String(res.error ?? "plugin reported failure"))),
        duration_ms: took(),
      };
    }
    return { ok: true, value: res.data ?? null, logs: [], duration_ms: took(), truncated: false };
  }

  #restart(p: SandboxedProcess, type: "timeout" | "crashed" | "invalid_output", msg: string) {
    p.kill();
    if (this.#proc === p) this.#proc = undefined;
    return this.#fail(type, msg, p);
  }

  /** Events reported over RPC since the last call; a dead monitor is restarted next time. */
  async #reported(): Promise<PluginResult<unknown>> {
    const dead = this.#proc?.ended === true ? this.#proc : undefined;
    const started = await this.#ensureStarted();
    if (!started.ok) return started;
    const events = this.#events.splice(0);
    if (dead && events.length === 0) {
      const s = await dead.exited;
      return this.#fail("crashed", `plugin exited with status ${s.code}`, dead);
    }
    return { ok: true, value: events, logs: [], duration_ms: 0, truncated: false };
  }

  /** argv / rpc actions: one sandboxed process per call, stdout parsed as JSON. */
  async #oneShot(request: unknown, id: string, timeoutMs: number): Promise<PluginResult<unknown>> {
    const t0 = performance.now();
    const links = await linksProblem(this.plugin);
    if (links) return links;
    await this.#prepare();
    const m = this.plugin.manifest;
    const args = this.#protocol === "rpc"
      ? this.#flags()
      : [...(Array.isArray(this.#run.arguments) ? this.#run.arguments.map(String) : [])];
    const input = request !== null && typeof request === "object" &&
      Object.keys(request).length > 0;
    if (input && this.#protocol === "argv") {
      // The work folder is the plugin's to write: the last call may have left a link at this
      // name, leading to any file of this host. Unlinked, then made anew (O_EXCL follows no link).
      const path = join(this.#work, "input.json");
      try {
        await Deno.remove(path, { recursive: true }).catch((err) => {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        });
        await Deno.writeTextFile(
          path,
          JSON.stringify({ input_data: request, context: {}, variables: {} }),
          { createNew: true },
        );
      } catch (err) {
        return failure("error", `cannot write the plugin's input file: ${errorMessage(err)}`);
      }
      args.push("--input", `${SANDBOX_WORK_DIR}/input.json`);
    }
    const env = {
      STAVILY_INSTRUCTION_ID: id,
      ...Object.fromEntries(
        Object.entries((this.#run.environment as Json) ?? {}).map(([k, v]) => [k, String(v)]),
      ),
    };
    const p = new SandboxedProcess(
      sandboxCommand(this.#spec(args, env, timeoutMs / 1000)),
      m.limits.max_output_bytes,
      m.limits.max_output_bytes,
    );
    await p.endInput();
    let timedOut = false;
    const timer = setTimeout(() => (timedOut = true, p.kill()), delayOf(timeoutMs));
    const status = await p.exited;
    clearTimeout(timer);
    await settledWithin(p.done, 500);
    const out = p.drain();
    const took = Math.round(performance.now() - t0);
    if (timedOut) {
      return { ...this.#fail("timeout", `killed after ${timeoutMs} ms`, p), duration_ms: took };
    }
    if (p.overflowed) {
      return {
        ...this.#fail(
          "invalid_output",
          `more than ${m.limits.max_output_bytes} bytes of output`,
          p,
        ),
        duration_ms: took,
      };
    }
    if (status.code !== 0) {
      return failure("error", `plugin execution failed: exit status ${status.code}`, {
        logs: this.#scrub(p.stderr).split("\n").filter((l) => l).slice(-50),
        output: this.#scrub(out).slice(0, 4096),
        duration_ms: took,
      });
    }
    const parsed = parseJson(out.trim());
    const value = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
      ? parsed
      : { raw_output: this.#scrub(out) };
    const logs = this.#scrub(p.stderr).split("\n").filter((l) => l).slice(-50);
    return { ok: true, value, logs, duration_ms: took, truncated: false };
  }
}
