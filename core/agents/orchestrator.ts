/**
 * Client for the four orchestrator calls of the Stavily agents (heartbeat, instruction poll,
 * status PUT, result POST), with their headers, plus the sensor's event POST (an iatp
 * extension path, in Stavily's ReportTriggerRequest shape). Bearer auth from an api
 * key or a token file, optional mTLS, a token-bucket rate limit, and retries with jittered
 * exponential backoff on network errors, 5xx, 429 and 408.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import { registerSecret } from "../log/mod.ts";
import { backoffDelay, sleep, timeoutSignal, TokenBucket } from "../async/mod.ts";
import {
  type HeartbeatBody,
  type Instruction,
  type ResultBody,
  rfc3339,
  type StatusBody,
  wireSchemas,
} from "./wire.ts";
import { readTextWithin } from "../config/mod.ts";
import { errorMessage } from "../errors/mod.ts";

/** Largest orchestrator response body read by default (a poll carries one instruction). */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Shortest `next_poll_interval` honoured, so a bad value cannot make the agent poll in a loop. */
const MIN_NEXT_POLL_MS = 1_000;
/** Longest `next_poll_interval` honoured, so a bad value cannot park the agent for days. */
const MAX_NEXT_POLL_MS = 3_600_000;

/** Options for {@linkcode OrchestratorClient}. */
export interface OrchestratorOptions {
  baseUrl: string;
  agentId: string;
  timeoutMs: number;
  retryAttempts: number;
  retryDelayMs: number;
  retryMaxDelayMs: number;
  rateLimitRps: number;
  rateLimitBurst: number;
  /** Largest response body read (`api.max_response_bytes`; default 4 MiB). */
  maxResponseBytes?: number;
  apiKey?: string;
  tokenFile?: string;
  /** PEM contents for mTLS and a private CA. */
  tls?: { cert?: string; key?: string; caCerts?: string[] };
  log: Logger;
  /** User-Agent of every call (the Stavily agents send `Stavily-Agent/1.0.0`). */
  userAgent?: string;
  /** Tenant of the agent, carried on every trigger event (Stavily's TriggerEvent.tenant_id). */
  tenantId?: string;
  /** Called after every HTTP attempt (for metrics): status, or "error" for a network failure. */
  onAttempt?: (call: string, outcome: string) => void;
}

/** A failed orchestrator call after retries. */
class OrchestratorError extends Error {
  override name = "OrchestratorError";
  constructor(message: string, readonly status?: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/** What a poll returned. */
export interface PollOutcome {
  instruction?: Instruction;
  /** An instruction that failed validation: its id (when usable) and why. */
  rejected?: { id?: string; reason: string };
  /** `next_poll_interval` in ms, when the orchestrator sent one. */
  nextPollMs?: number;
  status?: string;
}

/** Whether an HTTP status is worth retrying. */
function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** Parses `Retry-After` (seconds or HTTP date) to ms; undefined when absent or malformed. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const t = Date.parse(header);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Orchestrator API client; see the module doc. */
export class OrchestratorClient {
  readonly bucket: TokenBucket;
  #client?: Deno.HttpClient;
  #token?: { value: string; mtime?: number };
  #closed = new AbortController();
  readonly #base: string;

  constructor(private readonly opts: OrchestratorOptions) {
    this.bucket = new TokenBucket(opts.rateLimitRps, opts.rateLimitBurst);
    this.#base = opts.baseUrl.replace(/\/+$/, "");
    if (opts.tls && (opts.tls.cert || opts.tls.caCerts?.length)) {
      this.#client = Deno.createHttpClient({
        ...(opts.tls.cert && opts.tls.key ? { cert: opts.tls.cert, key: opts.tls.key } : {}),
        ...(opts.tls.caCerts?.length ? { caCerts: opts.tls.caCerts } : {}),
      });
    }
    registerSecret(opts.apiKey);
  }

  #agentPath(rest: string): string {
    return `/agents/v1/${encodeURIComponent(this.opts.agentId)}${rest}`;
  }

  /** `POST /agents/v1/{id}/heartbeat`. One attempt: the heartbeat timer is the retry. */
  async heartbeat(status: "online" | "offline"): Promise<void> {
    const body: HeartbeatBody = { timestamp: rfc3339(), status };
    await this.#call("heartbeat", "POST", this.#agentPath("/heartbeat"), body, 0);
  }

  /** `GET /agents/v1/{id}/instructions`. */
  async poll(): Promise<PollOutcome> {
    const raw = await this.#call("poll", "GET", this.#agentPath("/instructions"));
    const { pollResponseSchema } = await wireSchemas();
    const parsed = pollResponseSchema.safeParse(raw);
    if (!parsed.success) throw new OrchestratorError("poll: malformed response");
    const out: PollOutcome = { status: parsed.data.status };
    const npi = parsed.data.next_poll_interval;
    if (typeof npi === "number" && npi > 0) {
      out.nextPollMs = Math.min(MAX_NEXT_POLL_MS, Math.max(MIN_NEXT_POLL_MS, npi * 1000));
    }
    const inst = parsed.data.instruction;
    if (inst !== undefined && inst !== null) Object.assign(out, await parseInstruction(inst));
    return out;
  }

  /** `PUT /agents/v1/{id}/instructions/{iid}` with `status: executing`. */
  async reportExecuting(id: string, log: string[]): Promise<void> {
    const body: StatusBody = { status: "executing", execution_log: log };
    await this.#call(
      "status",
      "PUT",
      this.#agentPath(`/instructions/${encodeURIComponent(id)}`),
      body,
    );
  }

  /** `POST /agents/v1/{id}/instructions/{iid}/result`; returns a piggy-backed next instruction. */
  async reportResult(
    id: string,
    body: ResultBody,
  ): Promise<PollOutcome & { acknowledged: boolean }> {
    const path = this.#agentPath(`/instructions/${encodeURIComponent(id)}/result`);
    const raw = await this.#call("result", "POST", path, body);
    const { resultResponseSchema } = await wireSchemas();
    const parsed = resultResponseSchema.safeParse(raw ?? {});
    if (!parsed.success) return { acknowledged: false };
    const next = parsed.data.next_instruction;
    return {
      acknowledged: parsed.data.acknowledged ?? true,
      ...(next !== undefined && next !== null ? await parseInstruction(next) : {}),
    };
  }

  /**
   * POSTs sensor events to `pathTemplate` (`{agent_id}` is filled in), an iatp extension path,
   * in the Stavily `ReportTriggerRequest` shape: `{agent_id, events}` with each event's
   * `metadata`, `agent_id` and `tenant_id` present.
   */
  async postEvents(pathTemplate: string, events: Record<string, unknown>[]): Promise<void> {
    const path = pathTemplate.replaceAll("{agent_id}", encodeURIComponent(this.opts.agentId));
    await this.#call("events", "POST", path, {
      agent_id: this.opts.agentId,
      events: events.map((e) => ({
        metadata: {},
        ...e,
        agent_id: this.opts.agentId,
        tenant_id: this.opts.tenantId ?? "",
      })),
    });
  }

  /** Stops retries in progress and releases the HTTP client. */
  close(): void {
    this.#closed.abort();
    this.#client?.close();
  }

  async #authHeader(): Promise<string> {
    if (this.opts.tokenFile) {
      const stat = await Deno.stat(this.opts.tokenFile);
      const mtime = stat.mtime?.getTime();
      if (!this.#token || this.#token.mtime !== mtime) {
        const text = (await readTextWithin(this.opts.tokenFile)).trim();
        const value = text.replace(/^Bearer\s+/i, "");
        registerSecret(value);
        this.#token = { value, mtime };
      }
      return `Bearer ${this.#token.value}`;
    }
    return `Bearer ${(this.opts.apiKey ?? "").replace(/^Bearer\s+/i, "")}`;
  }

  async #call(
    call: string,
    method: string,
    path: string,
    body?: unknown,
    retries = this.opts.retryAttempts,
  ): Promise<unknown> {
    let lastErr: OrchestratorError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (this.#closed.signal.aborted) break;
      if (!(await this.bucket.take(this.#closed.signal))) break;
      const outcome = await this.#attempt(call, method, path, body);
      if (outcome.ok) return outcome.value;
      lastErr = outcome.error;
      if (!outcome.retryable || attempt === retries) break;
      // The server's Retry-After lengthens the jittered backoff, never shortens it: a
      // `Retry-After: 0` (or a date in the past) would otherwise send every retry at once.
      const backoff = backoffDelay(attempt, {
        baseMs: this.opts.retryDelayMs,
        maxMs: this.opts.retryMaxDelayMs,
      });
      const wait = Math.min(
        this.opts.retryMaxDelayMs,
        Math.max(backoff, outcome.retryAfterMs ?? 0),
      );
      this.opts.log.warn("orchestrator call failed; retrying", {
        call,
        attempt: attempt + 1,
        delay_ms: wait,
        error: outcome.error.message,
      });
      await sleep(wait, this.#closed.signal);
    }
    throw lastErr ?? new OrchestratorError(`${call}: client closed`);
  }

  async #attempt(call: string, method: string, path: string, body?: unknown): Promise<
    | { ok: true; value: unknown }
    | { ok: false; error: OrchestratorError; retryable: boolean; retryAfterMs?: number }
  > {
    let res: Response;
    try {
      res = await fetch(this.#base + path, {
        method,
        headers: {
          authorization: await this.#authHeader(),
          accept: "application/json",
          // As the Stavily agents do, on GETs too.
          "content-type": "application/json",
          "user-agent": this.opts.userAgent ?? "Stavily-Agent/1.0.0",
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        // The orchestrator API has no redirects: one followed would take instructions from,
        // and send results (and a client certificate) to, wherever it points, over http too.
        redirect: "manual",
        signal: AbortSignal.any([timeoutSignal(this.opts.timeoutMs), this.#closed.signal]),
        ...(this.#client ? { client: this.#client } : {}),
      });
    } catch (err) {
      this.opts.onAttempt?.(call, "error");
      const msg = errorMessage(err);
      return { ok: false, error: new OrchestratorError(`${call}: ${msg}`), retryable: true };
    }
    this.opts.onAttempt?.(call, String(res.status));
    let text: string | undefined;
    try {
      text = await readLimited(res, this.opts.maxResponseBytes ?? MAX_RESPONSE_BYTES);
    } catch (err) {
      // A body that stalls past api.timeout, or a connection cut in the middle of it.
      const msg = `${call}: HTTP ${res.status} response body not read: ${errorMessage(err)}`;
      return { ok: false, error: new OrchestratorError(msg), retryable: true };
    }
    if (res.ok) {
      if (text === undefined) {
        return {
          ok: false,
          error: new OrchestratorError(
            `${call}: response larger than api.max_response_bytes (${
              this.opts.maxResponseBytes ?? MAX_RESPONSE_BYTES
            } bytes)`,
          ),
          retryable: false,
        };
      }
      if (text.trim() === "") return { ok: true, value: undefined };
      try {
        return { ok: true, value: JSON.parse(text) };
      } catch {
        return {
          ok: false,
          error: new OrchestratorError(`${call}: response is not JSON`),
          retryable: false,
        };
      }
    }
    const redirect = res.status >= 300 && res.status < 400;
    const error = new OrchestratorError(
      `${call}: HTTP ${res.status}${redirect ? " (a redirect, not followed)" : ""}`,
      res.status,
    );
    return {
      ok: false,
      error,
      retryable: isRetryableStatus(res.status),
      retryAfterMs: retryAfterMs(res.headers.get("retry-after")),
    };
  }
}

async function parseInstruction(
  raw: unknown,
): Promise<Pick<PollOutcome, "instruction" | "rejected">> {
  const { instructionSchema } = await wireSchemas();
  const r = instructionSchema.safeParse(raw);
  if (r.success) return { instruction: r.data };
  const id = reportableId((raw as { id?: unknown } | null)?.id);
  const reason = r.error.issues.map((i) => `${i.path.join(".") || "instruction"}: ${i.message}`)
    .join("; ");
  return { rejected: { id, reason } };
}

/**
 * The id of an invalid instruction under which its rejection is stored and reported: printable
 * ASCII up to 256 characters (`bad/../id` is reported, URL-encoded), but not `.` or `..`. Any
 * other id is not used: a NUL or a lone surrogate does not survive the state database, so its
 * result could never be marked reported and would be sent again on every sweep, a megabyte id
 * would be one line of every log, and `.` or `..` is a path segment that URL-encoding leaves as
 * it is and the URL then resolves: its result would be posted to another path of the API.
 */
function reportableId(id: unknown): string | undefined {
  return typeof id === "string" && /^[\x20-\x7e]{1,256}$/.test(id) && id !== "." && id !== ".."
    ? id
    : undefined;
}

/** Reads a body up to `max` bytes; undefined (and the stream cancelled) when it is larger. */
async function readLimited(res: Response, max: number): Promise<string | undefined> {
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.length;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(all);
}
