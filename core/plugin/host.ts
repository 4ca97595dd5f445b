/**
 * One `plugin-host` child process, seen from the parent: spawn it, hand it the plugin spec, run
 * one call at a time, SIGKILL it on timeout, and turn every way it can end (crash, V8 OOM, RSS
 * watchdog, too much printing, garbage on the wire) into a typed {@linkcode PluginResult}.
 *
 * A result can leave the process (an agent sends it to its orchestrator), so the child's own
 * output never goes into one: what a host printed before it died (a stack trace naming this
 * install's files, a plugin's stderr) goes to the local log only, scrubbed, under an incident id
 * the result's message names.
 * @module
 */
import { delayOf, settledWithin } from "../async/mod.ts";
import type { Logger } from "../log/mod.ts";
import { failure, type PluginErrorType, type PluginResult } from "./errors.ts";
import type { HostCommand } from "./grants.ts";
import {
  BoundedLineReader,
  type CallFrame,
  EXIT_HOST_IDLE_CPU,
  EXIT_HOST_OOM,
  type HostFrame,
  type InitFrame,
  type PluginMethod,
  splitFrame,
} from "./protocol.ts";

/** Bytes of the child's stderr kept for diagnosing a crash (a tail). */
export const STDERR_TAIL_BYTES = 8 * 1024;
/** Bytes of that tail a crash's local log entry carries. */
const CRASH_LOG_BYTES = 4 * 1024;
/** Bytes of stray printed output kept for the result's `output` field. */
const NOISE_SAMPLE_BYTES = 4 * 1024;

/** How long to wait for the child's pipes to drain after it exits, before classifying the exit. */
const EXIT_DRAIN_MS = 250;

const RESULT_TYPES = new Set<PluginErrorType>([
  "timeout",
  "oom",
  "crashed",
  "denied",
  "invalid_output",
  "invalid_config",
  "error",
]);
const OOM_TEXT = /out of memory|Reached heap limit|allocation failed/i;
const encoder = new TextEncoder();

/** Everything a host needs to start. */
export interface HostSpec {
  command: HostCommand;
  init: Omit<InitFrame, "token" | "t">;
  startTimeoutMs: number;
  /**
   * Masks secrets, and this install's paths and runtime stack frames, in every string a result
   * carries.
   */
  scrub: (s: string) => string;
  /** Masks secrets only: for the local log, which keeps the paths. */
  scrubLocal: (s: string) => string;
  log: Logger;
}

interface PendingCall {
  id: number;
  started: number;
  timer: ReturnType<typeof setTimeout>;
  resolve: (r: PluginResult<unknown>) => void;
}

/** A live plugin-host child. */
export class PluginHost {
  /** Calls started on this host. */
  calls = 0;
  /** Resolves when the child has exited and been reaped. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Resolves once the exit has been classified and every pipe released. */
  readonly closed: Promise<void>;
  #child: Deno.ChildProcess;
  #token = crypto.randomUUID().replaceAll("-", "");
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #pending: PendingCall | undefined;
  #ready: ((r: PluginResult<null>) => void) | undefined;
  #readyLogs: string[] = [];
  #stderrTail = "";
  #noise = 0;
  #noiseSample = "";
  #oom: { rss: number; limit: number } | undefined;
  #dead = false;
  #nextId = 1;

  /** Spawns the child (throws only if the OS refuses to start it). */
  constructor(readonly spec: HostSpec) {
    const c = spec.command;
    this.#child = new Deno.Command(c.cmd, {
      args: c.args,
      env: c.env,
      clearEnv: true,
      cwd: c.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.exited = this.#child.status;
    const pumps = Promise.all([this.#pumpStdout(), this.#pumpStderr()]);
    // Read the child's last words (an OOM report, a final frame) before judging its exit; a
    // grandchild holding the pipes open must not delay that judgement for long.
    this.closed = this.exited.then(async (s) => {
      await settledWithin(pumps, EXIT_DRAIN_MS);
      this.#writer.close().catch(() => {});
      this.#onExit(s);
    });
  }

  /** Process id of the child. */
  get pid(): number {
    return this.#child.pid;
  }

  /** False once the child exited or was killed. */
  get alive(): boolean {
    return !this.#dead;
  }

  /** Sends the spec and waits for the plugin to load and run its init(). */
  start(): Promise<PluginResult<null>> {
    const { promise, resolve } = Promise.withResolvers<PluginResult<null>>();
    const started = Date.now();
    const timer = setTimeout(() => {
      this.#settleStart(
        failure("timeout", `plugin did not start within ${this.spec.startTimeoutMs} ms`),
      );
      this.kill();
    }, delayOf(this.spec.startTimeoutMs));
    this.#ready = (r) => {
      clearTimeout(timer);
      this.#ready = undefined;
      resolve({ ...r, duration_ms: Date.now() - started });
    };
    this.#send({ t: "init", token: this.#token, ...this.spec.init });
    return promise;
  }

  /** Runs one call; resolves with a typed result, never rejects. */
  call(method: PluginMethod, arg: unknown, timeoutMs: number): Promise<PluginResult<unknown>> {
    if (this.#dead) return Promise.resolve(failure("crashed", "plugin host is not running"));
    if (this.#pending) return Promise.resolve(failure("error", "plugin host is busy"));
    this.calls++;
    this.#noise = 0;
    this.#noiseSample = "";
    const { promise, resolve } = Promise.withResolvers<PluginResult<unknown>>();
    const id = this.#nextId++;
    const timer = setTimeout(() => {
      this.#settle(
        failure(
          "timeout",
          `plugin exceeded its timeout of ${timeoutMs} ms (limits.timeout_ms); host killed`,
        ),
      );
      this.kill();
    }, delayOf(timeoutMs));
    this.#pending = { id, started: performance.now(), timer, resolve };
    const frame: CallFrame = { t: "call", id, method, arg };
    this.#send(frame);
    return promise;
  }

  /** SIGKILLs the child (idempotent). */
  kill(): void {
    this.#dead = true;
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
  }

  #send(frame: object): void {
    this.#writer.write(encoder.encode(JSON.stringify(frame) + "\n")).catch(() => {
      // The child is gone; #onExit reports why.
    });
  }

  #settleStart(r: PluginResult<null>): void {
    this.#ready?.(r);
  }

  #settle(r: PluginResult<unknown>): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    clearTimeout(p.timer);
    const logs = [...this.#readyLogs, ...r.logs].map(this.spec.scrub);
    this.#readyLogs = [];
    const duration_ms = Math.round((performance.now() - p.started) * 1000) / 1000;
    p.resolve(
      r.ok ? { ...r, logs, duration_ms } : {
        ...r,
        error: { type: r.error.type, message: this.spec.scrub(r.error.message) },
        ...(r.output !== undefined ? { output: this.spec.scrub(r.output) } : {}),
        logs,
        duration_ms,
      },
    );
  }

  #onFrame(frame: HostFrame): void {
    switch (frame.t) {
      case "ready":
        this.#readyLogs = arrayOfStrings((frame as { logs?: unknown }).logs);
        return this.#settleStart({
          ok: true,
          value: null,
          logs: [],
          duration_ms: 0,
          truncated: false,
        });
      case "fatal": {
        const logs = arrayOfStrings(frame.logs).map(this.spec.scrub);
        this.#settleStart(
          failure(resultType(frame.type), this.spec.scrub(frame.message), { logs }),
        );
        if (this.#pending) this.#settle(failure(resultType(frame.type), frame.message));
        return this.kill();
      }
      case "oom":
        this.#oom = { rss: frame.rss, limit: frame.limit };
        return;
      case "result": {
        if (!this.#pending || frame.id !== this.#pending.id) return;
        const logs = arrayOfStrings(frame.logs);
        const truncated = frame.truncated === true;
        if (frame.ok) {
          return this.#settle({ ok: true, value: frame.value, logs, duration_ms: 0, truncated });
        }
        return this.#settle(failure(resultType(frame.type), String(frame.message), {
          logs,
          output: typeof frame.output === "string" ? frame.output : undefined,
          truncated,
        }));
      }
    }
  }

  // Bytes on stdout outside a token frame are the plugin printing directly: count, sample, bound.
  #onNoise(bytes: number, text?: string): void {
    this.#noise += bytes;
    if (text && this.#noiseSample.length < NOISE_SAMPLE_BYTES) {
      this.#noiseSample = (this.#noiseSample + text + "\n").slice(0, NOISE_SAMPLE_BYTES);
    }
    const max = this.spec.init.maxOutputBytes;
    if (this.#noise <= max || this.#dead) return;
    this.#settle(failure(
      "invalid_output",
      `plugin printed more than limits.max_output_bytes (${max}) outside its result; host killed`,
      { output: this.#noiseSample, truncated: true },
    ));
    this.kill();
  }

  async #pumpStdout(): Promise<void> {
    const maxLine = 8 * this.spec.init.maxOutputBytes + 1024 * 1024;
    const reader = new BoundedLineReader(maxLine, (line) => {
      const { noise, frame } = splitFrame(line, this.#token);
      if (noise > 0) this.#onNoise(noise, frame === undefined ? line : line.slice(0, noise));
      if (frame === undefined) return;
      let parsed: HostFrame;
      try {
        parsed = JSON.parse(frame);
      } catch {
        // A frame the plugin's raw writes interleaved with: unusable, so the host is too.
        this.#settle(failure("invalid_output", "plugin output corrupted the host channel"));
        return this.kill();
      }
      this.#onFrame(parsed);
    }, (bytes) => this.#onNoise(bytes));
    try {
      for await (const chunk of this.#child.stdout) reader.push(chunk);
    } catch { /* child gone */ }
  }

  async #pumpStderr(): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of this.#child.stderr) {
        this.#stderrTail = (this.#stderrTail + dec.decode(chunk, { stream: true }))
          .slice(-STDERR_TAIL_BYTES);
        this.#onNoise(chunk.length);
      }
    } catch { /* child gone */ }
  }

  #onExit(status: Deno.CommandStatus): void {
    const wasKilled = this.#dead;
    this.#dead = true;
    if (!this.#pending && !this.#ready) {
      // Between calls: the next call starts a fresh host; say why this one is gone.
      if (!wasKilled && status.code === EXIT_HOST_IDLE_CPU) {
        this.spec.log.warn("plugin host stopped: it used more CPU between calls than allowed", {
          pid: this.pid,
          max_idle_cpu_ms: this.spec.init.maxIdleCpuMs,
        });
      }
      return;
    }
    const r = wasKilled && !this.#oom
      ? failure<null>("crashed", "plugin host was killed")
      : this.#classifyExit(status);
    this.#settleStart(r);
    this.#settle(r);
  }

  #classifyExit(status: Deno.CommandStatus): PluginResult<null> {
    const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
    const incident = this.#logExit(status);
    const where = `; details in the local log, incident ${incident}`;
    if (this.#oom || status.code === EXIT_HOST_OOM) {
      const mb = (n = 0) => Math.round(n / 1048576);
      return failure(
        "oom",
        `plugin host exceeded its memory limit (rss ${mb(this.#oom?.rss)} MiB > ${
          mb(this.#oom?.limit)
        } MiB, limits.memory_mb + 96 MiB)${where}`,
      );
    }
    if (status.code === EXIT_HOST_IDLE_CPU) {
      return failure(
        "crashed",
        `plugin host used more than ${this.spec.init.maxIdleCpuMs} ms of CPU in 10 s between calls ` +
          `(a timer or Worker left running); host stopped${where}`,
      );
    }
    if (OOM_TEXT.test(this.#stderrTail)) {
      return failure(
        "oom",
        `plugin ran out of heap (limits.memory_mb) and the host aborted (${how})${where}`,
      );
    }
    return failure("crashed", `plugin host exited (${how})${where}`);
  }

  /**
   * Logs how the child ended and the last of what it printed (scrubbed of the plugin's secrets
   * and by the log scrubber) under a fresh incident id, which is returned for the result.
   */
  #logExit(status: Deno.CommandStatus): string {
    const incident = crypto.randomUUID().slice(0, 8);
    this.spec.log.warn("plugin host exited", {
      incident,
      pid: this.pid,
      code: status.code,
      ...(status.signal ? { signal: status.signal } : {}),
      output: this.spec.scrubLocal(wholeLines(this.#stderrTail.trim(), CRASH_LOG_BYTES)),
    });
    return incident;
  }
}

/**
 * The last `max` characters of `text`, from the first line that starts within them: a line cut in
 * two could hold part of a secret the scrubber no longer recognises.
 */
function wholeLines(text: string, max: number): string {
  if (text.length <= max) return text;
  const tail = text.slice(-max);
  const nl = tail.indexOf("\n");
  return nl === -1 ? "" : tail.slice(nl + 1);
}

function arrayOfStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

function resultType(t: unknown): PluginErrorType {
  return RESULT_TYPES.has(t as PluginErrorType) ? t as PluginErrorType : "error";
}
