/**
 * Docker Engine API client over the unix socket (Deno's HTTP client with a unix transport),
 * with API version negotiation: the client speaks the lower of the daemon's version and
 * {@linkcode MAX_API_VERSION}, and refuses daemons older than {@linkcode MIN_API_VERSION}.
 * Every response body read is bounded.
 * @module
 */
import { readBodyPrefix } from "../http/mod.ts";
import { decodeLogs, demuxLogs, looksMultiplexed } from "./log_frames.ts";
import { errorMessage } from "../errors/mod.ts";

/** Oldest Engine API spoken (Docker Engine 20.10). */
const MIN_API_VERSION = "1.41";
/** Newest Engine API this client was written against. */
const MAX_API_VERSION = "1.47";
/** Default Docker socket. */
export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";
/** Default timeout of one Engine API call. */
const DEFAULT_DOCKER_TIMEOUT_MS = 30_000;
/** Largest JSON response read from the daemon. */
const MAX_JSON_RESPONSE_BYTES = 8 * 1024 * 1024;
/** Default largest log output returned. */
export const DEFAULT_MAX_LOG_BYTES = 256 * 1024;

/** A failed Engine API call: `status` is the daemon's HTTP status (0 when unreachable). */
export class DockerError extends Error {
  override name = "DockerError";
  constructor(readonly status: number, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Compares dotted versions numerically. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The API version to speak with a daemon that reports `server`.
 * @throws {DockerError} when the daemon's API version is malformed or older than the minimum
 */
export function negotiateVersion(server: string): string {
  if (!/^\d+\.\d+$/.test(server)) throw new DockerError(0, `bad daemon API version ${server}`);
  if (compareVersions(server, MIN_API_VERSION) < 0) {
    throw new DockerError(0, `Docker API ${server} is older than the minimum ${MIN_API_VERSION}`);
  }
  return compareVersions(server, MAX_API_VERSION) < 0 ? server : MAX_API_VERSION;
}

/** The fields of `GET /containers/json` used here. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  Status: string;
  Labels: Record<string, string>;
  Created: number;
}

/** The fields of `GET /containers/{id}/json` used here. */
export interface ContainerInspect {
  Id: string;
  Name: string;
  Created: string;
  RestartCount: number;
  Config: { Tty?: boolean; Image?: string; Labels?: Record<string, string> | null };
  State: {
    Status: string;
    Running: boolean;
    Paused: boolean;
    Restarting: boolean;
    OOMKilled: boolean;
    Dead: boolean;
    Pid: number;
    ExitCode: number;
    Error: string;
    StartedAt: string;
    FinishedAt: string;
    Health?: { Status: string; FailingStreak: number; Log?: Array<{ Output: string }> };
  };
}

/** Options for {@linkcode DockerEngine}. */
interface DockerEngineOptions {
  socket?: string;
  timeoutMs?: number;
}

/** Options for {@linkcode DockerEngine.logs}. */
export interface LogOptions {
  tail?: number;
  /** Unix seconds. */
  since?: number;
  maxBytes?: number;
  /** Which streams to read (default both). */
  streams?: Array<"stdout" | "stderr">;
  /** Prefix each line with its RFC 3339 time (Docker's `timestamps=1`). */
  timestamps?: boolean;
}

/** One log line with the stream it came from (TTY containers only have stdout). */
export interface LogEntry {
  stream: "stdout" | "stderr";
  /** The raw line; with `timestamps`, it starts with the RFC 3339 time and a space. */
  line: string;
}

/** A client bound to one daemon socket. */
export class DockerEngine {
  readonly socket: string;
  #client: Deno.HttpClient;
  #version: string | undefined;
  #timeoutMs: number;

  constructor(opts: DockerEngineOptions = {}) {
    this.socket = opts.socket ?? DEFAULT_DOCKER_SOCKET;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_DOCKER_TIMEOUT_MS;
    this.#client = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socket } });
  }

  /** The negotiated API version (negotiates on first use). */
  async apiVersion(): Promise<string> {
    if (this.#version) return this.#version;
    const info = await this.#json<{ ApiVersion: string }>("GET", "/version", undefined, false);
    this.#version = negotiateVersion(info.ApiVersion);
    return this.#version;
  }

  /** Daemon version information (unversioned endpoint). */
  version(): Promise<Record<string, unknown>> {
    return this.#json("GET", "/version", undefined, false);
  }

  /** `GET /_ping`: true when the daemon answers. */
  async ping(): Promise<boolean> {
    try {
      const res = await this.#request("GET", "/_ping", undefined, false);
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  }

  /** Lists containers; `filters` as the Engine API takes them (`{label: ["a=b"]}`). */
  listContainers(
    opts: { all?: boolean; filters?: Record<string, string[]> } = {},
  ): Promise<ContainerSummary[]> {
    const q = new URLSearchParams({ all: opts.all === false ? "0" : "1" });
    if (opts.filters) q.set("filters", JSON.stringify(opts.filters));
    return this.#json("GET", `/containers/json?${q}`);
  }

  /** Inspects one container by name or id. */
  inspect(name: string): Promise<ContainerInspect> {
    return this.#json("GET", `/containers/${encodeURIComponent(name)}/json`);
  }

  /** Recent log text (stdout and stderr), at most `maxBytes`, and its lines by stream. */
  async logs(
    name: string,
    opts: LogOptions = {},
  ): Promise<{ text: string; entries: LogEntry[]; truncated: boolean }> {
    const info = await this.inspect(name);
    const streams = opts.streams ?? ["stdout", "stderr"];
    const q = new URLSearchParams({
      stdout: streams.includes("stdout") ? "1" : "0",
      stderr: streams.includes("stderr") ? "1" : "0",
      tail: String(opts.tail ?? 100),
    });
    if (opts.since !== undefined) q.set("since", String(opts.since));
    if (opts.timestamps) q.set("timestamps", "1");
    const res = await this.#request("GET", `/containers/${encodeURIComponent(name)}/logs?${q}`);
    await this.#check(res);
    const max = opts.maxBytes ?? DEFAULT_MAX_LOG_BYTES;
    const { bytes, truncated } = await readBounded(res, max);
    const tty = info.Config.Tty === true;
    const chunks = tty || !looksMultiplexed(bytes)
      ? [{ stream: "stdout" as const, text: new TextDecoder().decode(bytes) }]
      : demuxLogs(bytes);
    const entries: LogEntry[] = [];
    for (const c of chunks) {
      const lines = c.text.split("\n");
      if (lines.at(-1) === "") lines.pop();
      for (const line of lines) entries.push({ stream: c.stream, line });
    }
    return { text: decodeLogs(bytes, tty), entries, truncated };
  }

  /** Restarts a container (stop with `timeoutSecs` grace, then start). */
  restart(name: string, timeoutSecs = 10): Promise<void> {
    return this.#action(name, `restart?t=${timeoutSecs}`);
  }

  /** Stops a container; already stopped is not an error. */
  stop(name: string, timeoutSecs = 10): Promise<void> {
    return this.#action(name, `stop?t=${timeoutSecs}`);
  }

  /** Starts a container; already running is not an error. */
  start(name: string): Promise<void> {
    return this.#action(name, "start");
  }

  /** Pauses a container. */
  pause(name: string): Promise<void> {
    return this.#action(name, "pause");
  }

  /** Unpauses a container. */
  unpause(name: string): Promise<void> {
    return this.#action(name, "unpause");
  }

  /** Sends a signal to a container's main process. */
  kill(name: string, signal = "SIGKILL"): Promise<void> {
    return this.#action(name, `kill?signal=${encodeURIComponent(signal)}`);
  }

  /** Releases the HTTP client. */
  close(): void {
    this.#client.close();
  }

  async #action(name: string, verb: string): Promise<void> {
    const res = await this.#request("POST", `/containers/${encodeURIComponent(name)}/${verb}`);
    // 304: already in the requested state.
    if (res.status === 304) return void await res.body?.cancel();
    await this.#check(res);
    await res.body?.cancel();
  }

  async #json<T>(method: string, path: string, body?: unknown, versioned = true): Promise<T> {
    const res = await this.#request(method, path, body, versioned);
    await this.#check(res);
    const { bytes, truncated } = await readBounded(res, MAX_JSON_RESPONSE_BYTES);
    if (truncated) throw new DockerError(502, `Docker response to ${path} exceeds the bound`);
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  }

  async #request(method: string, path: string, body?: unknown, versioned = true) {
    const prefix = versioned ? `/v${await this.apiVersion()}` : "";
    try {
      return await fetch(`http://docker${prefix}${path}`, {
        method,
        client: this.#client,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new DockerError(
        0,
        `Docker daemon unreachable at ${this.socket}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  async #check(res: Response): Promise<void> {
    if (res.ok) return;
    const { bytes } = await readBounded(res, 4096);
    let message = new TextDecoder().decode(bytes);
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message;
    } catch { /* plain text error */ }
    throw new DockerError(res.status, message.trim() || `Docker answered ${res.status}`);
  }
}

/** Reads at most `max` bytes of a Docker response; a body that breaks off is a 502. */
async function readBounded(
  res: Response,
  max: number,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  try {
    return await readBodyPrefix(res, max);
  } catch (err) {
    throw new DockerError(502, `Docker response broke off: ${errorMessage(err)}`, { cause: err });
  }
}
