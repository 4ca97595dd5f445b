/**
 * Docker Engine API client over the unix socket (the product's HTTP/1.1 client, core/http/client,
 * connected to the socket: `fetch` and its code stay out of the agent), with API version
 * negotiation: the client speaks the lower of the daemon's version and
 * {@linkcode MAX_API_VERSION}, and refuses daemons older than {@linkcode MIN_API_VERSION}.
 * Every response body read is bounded, and every call has a deadline from connect to last byte.
 * @module
 */
import { onceUntilFailure } from "../async/mod.ts";
import { lateImport } from "../config/mod.ts";
import type { ClientResponse, OriginClient } from "../http/client/mod.ts";
import { decodeLogs, demuxLogs, looksMultiplexed } from "./log_frames.ts";
import { errorMessage } from "../errors/mod.ts";
import { DEFAULT_DOCKER_SOCKET } from "./wire/mod.ts";

/** The HTTP/1.1 client's module, imported by a computed specifier (core/config's `lateImport`). */
type HttpClient = typeof import("../http/client/mod.ts");

/**
 * Loaded with the first call (the status agent talks to the daemon only in legacy mode); a
 * failed load is that call's `DockerError`, and the next call tries again.
 */
const httpClient = onceUntilFailure(() =>
  lateImport<HttpClient>("../http/client/mod.ts", import.meta.url)
);

/** Oldest Engine API spoken (Docker Engine 20.10). */
const MIN_API_VERSION = "1.41";
/** Newest Engine API this client was written against. */
const MAX_API_VERSION = "1.47";
/** Default timeout of one Engine API call. */
const DEFAULT_DOCKER_TIMEOUT_MS = 30_000;
/** Largest JSON response read from the daemon. */
const MAX_JSON_RESPONSE_BYTES = 8 * 1024 * 1024;
/** Default largest log output returned. */
export const DEFAULT_MAX_LOG_BYTES = 256 * 1024;
/** Idle keep-alive connections to the daemon kept per client. */
const MAX_IDLE_DOCKER_CONNECTIONS = 4;
/** Largest error answer read from the daemon (its `message`). */
const MAX_ERROR_RESPONSE_BYTES = 4096;
/** The empty body of a call that sends none. */
const NO_BODY = new Uint8Array(0);

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

/** The fields of one entry of `GET /networks` used here. */
export interface NetworkSummary {
  Id: string;
  Name: string;
  Labels: Record<string, string> | null;
}

/** The fields of one volume of `GET /volumes` used here. */
export interface VolumeSummary {
  Name: string;
  Labels: Record<string, string> | null;
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
  /** Made with the first call (its module loads then). */
  #client: OriginClient | undefined;
  #closed = false;
  #version: string | undefined;
  #timeoutMs: number;

  constructor(opts: DockerEngineOptions = {}) {
    this.socket = opts.socket ?? DEFAULT_DOCKER_SOCKET;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_DOCKER_TIMEOUT_MS;
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
      discard(res);
      return ok(res);
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

  /** Networks matching `filters` (a `name` filter matches any part of a network's name). */
  listNetworks(opts: { filters?: Record<string, string[]> } = {}): Promise<NetworkSummary[]> {
    const q = new URLSearchParams();
    if (opts.filters) q.set("filters", JSON.stringify(opts.filters));
    return this.#json("GET", `/networks?${q}`);
  }

  /** Volumes matching `filters` (a `name` filter matches any part of a volume's name). */
  async listVolumes(opts: { filters?: Record<string, string[]> } = {}): Promise<VolumeSummary[]> {
    const q = new URLSearchParams();
    if (opts.filters) q.set("filters", JSON.stringify(opts.filters));
    const r = await this.#json<{ Volumes: VolumeSummary[] | null }>("GET", `/volumes?${q}`);
    return r.Volumes ?? [];
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

  /** Closes the idle connections to the daemon; calls in flight finish. */
  close(): void {
    this.#closed = true;
    this.#client?.close();
  }

  async #action(name: string, verb: string): Promise<void> {
    const res = await this.#request("POST", `/containers/${encodeURIComponent(name)}/${verb}`);
    // 304: already in the requested state.
    if (res.status === 304) return discard(res);
    await this.#check(res);
    discard(res);
  }

  async #json<T>(method: string, path: string, body?: unknown, versioned = true): Promise<T> {
    const res = await this.#request(method, path, body, versioned);
    await this.#check(res);
    const { bytes, truncated } = await readBounded(res, MAX_JSON_RESPONSE_BYTES);
    if (truncated) throw new DockerError(502, `Docker response to ${path} exceeds the bound`);
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  }

  async #request(
    method: string,
    path: string,
    body?: unknown,
    versioned = true,
  ): Promise<ClientResponse> {
    const prefix = versioned ? `/v${await this.apiVersion()}` : "";
    const client = await this.#httpClient();
    try {
      return await client.send({
        method,
        target: `${prefix}${path}`,
        headers: body === undefined ? [] : [["content-type", "application/json"]],
        body: body === undefined ? NO_BODY : new TextEncoder().encode(JSON.stringify(body)),
        timeoutMs: this.#timeoutMs,
      });
    } catch (err) {
      throw new DockerError(
        0,
        `Docker daemon unreachable at ${this.socket}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }

  /**
   * The client on the daemon's socket, made with the first call.
   * @throws {DockerError} status 0 when the client's module cannot be loaded
   */
  async #httpClient(): Promise<OriginClient> {
    if (this.#client) return this.#client;
    let createOriginClient: HttpClient["createOriginClient"];
    try {
      ({ createOriginClient } = await httpClient());
    } catch (err) {
      const message = `Docker client not loaded: ${errorMessage(err)}`;
      throw new DockerError(0, message, { cause: err });
    }
    if (this.#client) return this.#client;
    this.#client = createOriginClient("http://docker", {
      unixPath: this.socket,
      maxIdle: MAX_IDLE_DOCKER_CONNECTIONS,
    });
    // Closed before its client was made: a call in flight finishes, nothing is kept after it.
    if (this.#closed) this.#client.close();
    return this.#client;
  }

  async #check(res: ClientResponse): Promise<void> {
    if (ok(res)) return;
    const { bytes } = await readBounded(res, MAX_ERROR_RESPONSE_BYTES);
    let message = new TextDecoder().decode(bytes);
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message;
    } catch { /* plain text error */ }
    throw new DockerError(res.status, message.trim() || `Docker answered ${res.status}`);
  }
}

/** A 2xx answer. */
function ok(res: ClientResponse): boolean {
  return res.status >= 200 && res.status <= 299;
}

/** Drops an answer's body (a stream is cancelled, closing its connection; a buffer released). */
function discard(res: ClientResponse): void {
  if (res.body instanceof ReadableStream) res.body.cancel().catch(() => {});
  res.release?.();
}

/**
 * Reads at most `max` bytes of a Docker response (a copy of its own: a pooled buffer is released;
 * the rest of a longer stream is cancelled); a body that breaks off is a 502.
 */
async function readBounded(
  res: ClientResponse,
  max: number,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const body = res.body;
  if (body === null) return { bytes: NO_BODY, truncated: false };
  if (body instanceof Uint8Array) {
    const bytes = body.slice(0, max);
    res.release?.();
    return { bytes, truncated: body.length > max };
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.length > max) {
        parts.push(value.subarray(0, max - size));
        size = max;
        truncated = true;
        reader.cancel().catch(() => {});
        break;
      }
      parts.push(value);
      size += value.length;
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    throw new DockerError(502, `Docker response broke off: ${errorMessage(err)}`, { cause: err });
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, truncated };
}
