/**
 * `POST /proxy[/<path>]`: the IATP decision order over one request. Target check (dot
 * segments, escapes), body limit, JSON object check, one scan of everything that would be
 * forwarded (body, path, query, header values) for cards and SSNs, whose results also yield the
 * scrubbed copies the recorder keeps (secret members redacted too), the trust decision, then a
 * streamed forward to the agent with a timeout.
 * @module
 */
import { errorMessage, HttpError } from "../errors/mod.ts";
import {
  type HeaderPairs,
  isReadableStream,
  type RawRequest,
  type RawResponse,
  type RawSettle,
  withSafeFields,
} from "../http/mod.ts";
import { type ClientResponse, HttpClientError, type SendRequest } from "../http/client/mod.ts";
import { inspectText, MIN_PII_CHARS, scanPii, type TextInspection } from "../pii/mod.ts";
import { isValidTraceId } from "../recorder/mod.ts";
import {
  decideTrust,
  type DecisionContext,
  type OverridePolicy,
  WARN_BELOW_SCORE,
} from "../trust/mod.ts";
import { parseObject } from "./body.ts";
import { requestDetails, responseDetails } from "./record.ts";
import type { TraceBook } from "./server.ts";
import { decodeForScan, proxyTarget, type Target, TargetError } from "./target.ts";
import { randomUuid } from "../crypto/uuid/mod.ts";

/** The proxy's bounds and forwarded headers. */
export interface ProxyLimits {
  /** Time the agent has to answer (504 after). */
  timeoutMs: number;
  /** Largest request body accepted (413 above). */
  maxBodyBytes: number;
  /** Deepest JSON nesting scanned. */
  maxJsonDepth: number;
  /** Payload characters kept per flight-recorder record. */
  tracePayloadChars: number;
  /** Request headers forwarded to the agent (some are never forwarded whatever this says). */
  forwardHeaders: string[];
}

/** What the proxy needs, fixed at startup. */
export interface ProxyDeps extends ProxyLimits {
  agentUrl: string;
  send: SendRequest;
  decision: DecisionContext;
  override: OverridePolicy;
  /** Where the flight-recorder records go. */
  recorder: Pick<TraceBook, "record" | "readsAtOnce">;
}

/** Headers never forwarded whatever the allow-list says. */
const NEVER_FORWARD = new Set([
  "x-user-override",
  "host",
  "content-length",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "te",
  "upgrade",
  "proxy-authorization",
  "x-agent-trace-id",
  "content-type",
]);

/**
 * An answer of the sidecar's own (a refusal, a warning, a failed exchange), with the safe fields;
 * an answer passed on from the agent carries only the agent's fields and the sidecar's trace ones.
 */
function json(status: number, body: Record<string, unknown>, headers: HeaderPairs): RawResponse {
  headers.push(["content-type", "application/json"]);
  return { status, headers: withSafeFields(headers), body: JSON.stringify(body) };
}

/** Distinct request URLs whose parse is remembered (clients repeat the same few). */
const TARGET_CACHE_SIZE = 256;

/** The headers forwarded to the agent, what their values hold and their recorded copies. */
interface Forwarded {
  pairs: HeaderPairs;
  card: boolean;
  ssn: boolean;
  /** Header name -> value with cards and SSNs redacted, for the headers that held any. */
  recorded: Record<string, string> | undefined;
}

/** One request in flight: what every step needs. */
interface Exchange {
  req: RawRequest;
  target: Target;
  forwarded: Forwarded;
  traceId: string;
  /** Response headers every /proxy answer carries (more are appended). */
  headers: HeaderPairs;
  /** The number of this request's last record (its next record is chained to it). */
  recorded: number | undefined;
}

/**
 * The client's trace id when it is safe to keep (and to store and echo), else a new one: `made`
 * when the request has a random UUID made for it already (its request id), else another.
 */
function traceIdOf(incoming: string | null, made: string | undefined): string {
  if (!isValidTraceId(incoming)) return made ?? randomUuid();
  // A trace id becomes a storage key and is echoed back: one carrying a card or an SSN is
  // replaced rather than kept.
  if (incoming.length >= MIN_PII_CHARS && scanPii(incoming).spans.length > 0) {
    return made ?? randomUuid();
  }
  return incoming;
}

/**
 * Builds the forwarded header list and scans every value in it (percent-decoded too). `idCodes`:
 * the trace id's char codes, when it was made as codes.
 */
function forwardedHeaders(
  req: RawRequest,
  allow: Allowed,
  traceId: string,
  idCodes: readonly number[] | undefined,
): Forwarded {
  const type = req.header("content-type");
  const pairs: HeaderPairs = [
    ["content-type", type ?? "application/json"],
    idCodes === undefined ? ["x-agent-trace-id", traceId] : ["x-agent-trace-id", traceId, idCodes],
  ];
  const f: Forwarded = { pairs, card: false, ssn: false, recorded: undefined };
  if (type !== null) note(f, "content-type", type);
  // Most requests carry none of them: one pass over the fields tells.
  if (!carriesAny(req.headers, allow.names)) return f;
  const hop = hopByHop(req.header("connection"), allow.names);
  for (const name of allow.list) {
    if (hop !== undefined && hop.has(name)) continue;
    const v = req.header(name);
    if (v === null) continue;
    pairs.push([name, v]);
    note(f, name, v);
  }
  return f;
}

/**
 * The allow-listed headers the client's `Connection` names: hop-by-hop fields for this
 * connection only, which a proxy must not forward (RFC 9110 section 7.6.1). Undefined when it
 * names none (no `Connection`, or only `close` / `keep-alive`).
 */
function hopByHop(connection: string | null, names: Set<string>): Set<string> | undefined {
  if (connection === null) return undefined;
  let hop: Set<string> | undefined;
  for (const option of connection.split(",")) {
    const name = option.trim().toLowerCase();
    if (names.has(name)) (hop ??= new Set()).add(name);
  }
  return hop;
}

/** The request headers forwarded: in the order they are sent, and as a set. */
interface Allowed {
  list: string[];
  names: Set<string>;
}

/** Whether any field of `fields` (names in lower case) is one of `names`. */
function carriesAny(fields: RawRequest["headers"], names: Set<string>): boolean {
  for (let i = 0; i < fields.length; i++) if (names.has(fields[i][0])) return true;
  return false;
}

/** Header values found clean, remembered (a value's scan depends on nothing else). */
const cleanValues = new Set<string>();
/** Most values remembered before the set starts over. */
const CLEAN_VALUES = 256;
/** Longest value remembered. */
const CLEAN_VALUE_MAX_CHARS = 256;

/**
 * Scans one forwarded value. Only a value that held a card or an SSN is recorded (redacted):
 * recording every header would cost each request more than all the scanning does.
 */
function note(f: Forwarded, name: string, value: string): void {
  if (cleanValues.has(value)) return;
  const seen = inspectHeaderValue(value);
  if (!seen.card && !seen.ssn) {
    // Clients repeat the same few values (content types, versions): scanned once each.
    if (value.length <= CLEAN_VALUE_MAX_CHARS) {
      if (cleanValues.size >= CLEAN_VALUES) cleanValues.clear();
      cleanValues.add(value);
    }
    return;
  }
  f.card ||= seen.card;
  f.ssn ||= seen.ssn;
  (f.recorded ??= {})[name] = seen.text;
}

/** A character the head reader made of a byte beyond ASCII (it reads a head's bytes as latin1). */
const BEYOND_ASCII = /[\u0080-\u00ff]/;
const headerDecoder = new TextDecoder();

/**
 * Scans a header value as the agent may read it: percent-decoded, and when it holds bytes beyond
 * ASCII, also those bytes read as UTF-8 (a card written in full-width or other non-ASCII digits
 * is a card to an agent that decodes the field as UTF-8); the redacted copy is of the reading
 * that held a finding.
 */
function inspectHeaderValue(value: string): TextInspection {
  const seen = inspectText(decodeForScan(value, false));
  if (seen.card || seen.ssn || !BEYOND_ASCII.test(value)) return seen;
  const bytes = Uint8Array.from(value, (c) => c.charCodeAt(0));
  const utf8 = inspectText(decodeForScan(headerDecoder.decode(bytes), false));
  return utf8.card || utf8.ssn ? utf8 : seen;
}

/** What `admit` lets through: the body and what the request holds. */
interface Admitted {
  bytes: Uint8Array<ArrayBuffer>;
  card: boolean;
  ssn: boolean;
}

/** The answer to a body that could not be read: 413 over the limit, else 400 (or 408). */
function unreadable(deps: ProxyDeps, x: Exchange, err: unknown): RawResponse {
  const status = err instanceof HttpError && err.status < 500 ? err.status : 400;
  deps.recorder.record("error", x.traceId, { error: errorMessage(err), status });
  const error = status === 413 ? "Request body too large" : "Failed to read request body";
  const limit_bytes = deps.maxBodyBytes;
  return json(status, { error, limit_bytes, trace_id: x.traceId }, x.headers);
}

/**
 * The request with its body: checked, recorded, judged, then forwarded. `settle`: the raw
 * route's, when the agent's answer may be completed where it is made (see `forward`).
 */
function proceed(
  deps: ProxyDeps,
  x: Exchange,
  bytes: Uint8Array<ArrayBuffer>,
  settle: RawSettle | undefined,
): RawResponse | Promise<RawResponse> {
  const input = admit(deps, x, bytes);
  if ("status" in input) return input;
  return judge(deps, x, input.card, input.ssn) ?? forward(deps, x, input.bytes, settle);
}

/** Checks and records the request; the answer when it ends here (400). */
function admit(
  deps: ProxyDeps,
  x: Exchange,
  bytes: Uint8Array<ArrayBuffer>,
): RawResponse | Admitted {
  const rec = deps.recorder;
  const parsed = parseObject(bytes, deps.maxJsonDepth, rec.readsAtOnce);
  if ("invalid" in parsed) {
    rec.record("error", x.traceId, { error: "Invalid JSON", detail: parsed.invalid, status: 400 });
    const out = { error: "Invalid JSON", detail: parsed.invalid, trace_id: x.traceId };
    return json(400, out, x.headers);
  }
  const { target: t, forwarded: f } = x;
  const card = parsed.card || t.card || f.card;
  const ssn = parsed.ssn || t.ssn || f.ssn;
  x.recorded = rec.record(
    "request",
    x.traceId,
    requestDetails({
      method: x.req.method,
      target: t,
      headers: f,
      bytes,
      body: parsed,
      maxChars: deps.tracePayloadChars,
    }),
  );
  return { bytes, card, ssn };
}

/** Applies the trust decision; the answer when it blocks (403) or warns (449). */
function judge(
  deps: ProxyDeps,
  x: Exchange,
  card: boolean,
  ssn: boolean,
): RawResponse | undefined {
  const rec = deps.recorder;
  const score = deps.decision.trustScore;
  const overrideValid = score < WARN_BELOW_SCORE &&
    deps.override.accepts(x.req.header("x-user-override"));
  const d = decideTrust(deps.decision, { creditCard: card, ssn }, overrideValid);
  if (d.action === "block") {
    rec.record("blocked", x.traceId, { reason: d.reason, error: d.message, status: 403 });
    const out = { error: d.message, blocked: true, reason: d.reason, trace_id: x.traceId };
    return json(403, out, x.headers);
  }
  if (d.action === "warn") {
    rec.record("warning", x.traceId, { warning: d.warning, trust_score: score, status: 449 });
    const out = { warning: d.warning, requires_override: true, trust_score: score };
    return json(449, { ...out, trace_id: x.traceId }, x.headers);
  }
  if (d.quarantined || d.overridden) {
    x.recorded = rec.record("quarantine", x.traceId, {
      reason: d.overridden ? "low_trust_override" : "quarantined_agent",
      quarantined: d.quarantined,
      trust_score: score,
    }, x.recorded);
    if (d.quarantined) x.headers.push(["X-Agent-Quarantined", "true"]);
  }
  return undefined;
}

/**
 * The proxy, independent of the router: `serve` answers one `POST /proxy[/<path>]` (at once
 * when it ends before the agent is asked). `requestId`, `madeId` and `settle` as the raw route
 * has them (`RawRoute.serve`): a request id made for this request is also its trace id when the
 * client sent none it could keep (one UUID per request, not two), and the agent's answer is
 * completed with `settle` where it is made (no promise reaction of the route's own).
 */
export interface Proxy {
  serve(
    req: RawRequest,
    requestId?: string,
    madeId?: boolean,
    settle?: RawSettle,
  ): RawResponse | Promise<RawResponse>;
}

/** Builds the proxy. */
export function createProxy(deps: ProxyDeps): Proxy {
  const list = deps.forwardHeaders.map((h) => h.toLowerCase()).filter((h) => !NEVER_FORWARD.has(h));
  const allow: Allowed = { list, names: new Set(list) };
  const scoreHeader = String(deps.decision.trustScore);
  const basePath = new URL(deps.agentUrl).pathname;
  const targets = new Map<string, Target>();
  const targetOf = (href: string): Target => {
    let t = targets.get(href);
    if (!t) {
      t = proxyTarget(basePath, href);
      // URLs carrying PII are not kept any longer than their request.
      if (!t.card && !t.ssn) {
        if (targets.size >= TARGET_CACHE_SIZE) targets.clear();
        targets.set(href, t);
      }
    }
    return t;
  };
  return {
    serve(req, requestId, madeId, settle) {
      const made = madeId === true ? requestId : undefined;
      const traceId = traceIdOf(req.header("x-agent-trace-id"), made);
      // The made id's char codes go with it where it is written (both heads).
      const idCodes = made !== undefined && traceId === made ? settle?.madeIdCodes : undefined;
      const headers: HeaderPairs = [
        idCodes === undefined
          ? ["X-Agent-Trace-ID", traceId]
          : ["X-Agent-Trace-ID", traceId, idCodes],
        ["X-Agent-Trust-Score", scoreHeader],
      ];
      let target: Target;
      try {
        target = targetOf(req.target);
      } catch (err) {
        if (!(err instanceof TargetError)) throw err;
        deps.recorder.record("error", traceId, { error: "Invalid path", status: 400 });
        const out = { error: "Invalid path", detail: err.message, trace_id: traceId };
        return json(400, out, headers);
      }
      const forwarded = forwardedHeaders(req, allow, traceId, idCodes);
      const x: Exchange = { req, target, forwarded, traceId, headers, recorded: undefined };
      // A body already here is taken at once: no wait, no frame suspended for it.
      const bytes = req.bodyNow?.(deps.maxBodyBytes);
      if (bytes !== undefined) return proceed(deps, x, bytes, settle);
      // Answered in a reaction: the raw route completes the answer (it saw a promise of ours).
      return req.body(deps.maxBodyBytes).then(
        (b) => proceed(deps, x, b, undefined),
        (err) => unreadable(deps, x, err),
      );
    },
  };
}

/** The status and message for a failed upstream exchange. */
function failure(err: unknown): { status: 502 | 504; error: string } {
  if (err instanceof HttpClientError && err.kind === "timeout") {
    return { status: 504, error: "Backend agent timeout" };
  }
  if (err instanceof HttpClientError && err.kind === "protocol") {
    return { status: 502, error: "Invalid response from backend agent" };
  }
  return { status: 502, error: "Failed to reach backend agent" };
}

/**
 * Sends the request on to the agent; its answer, or a 502/504 of the sidecar's. With `settle`,
 * the answer is completed by it where it is made, and the promise never rejects.
 */
function forward(
  deps: ProxyDeps,
  x: Exchange,
  bytes: Uint8Array<ArrayBuffer>,
  settle: RawSettle | undefined,
): Promise<RawResponse> {
  // The monotonic clock: a step of the wall clock neither inflates nor hides a latency.
  const started = performance.now();
  const sent = deps.send({
    method: "POST",
    target: x.target.upstream,
    headers: x.forwarded.pairs,
    // Names and values from the request head the server parsed (a token, no CTL but HTAB in a
    // value), the trace id (its rule's characters, or a UUID) and a content type of its own.
    headersChecked: true,
    body: bytes,
    timeoutMs: deps.timeoutMs,
  });
  // Finished where the answer resolves: no frame is suspended per request.
  if (settle === undefined) {
    return sent.then(
      (res) => answered(deps, x, res, started),
      (err) => unreached(deps, x, err, started),
    );
  }
  settle.takeOver();
  return sent.then(
    (res) => {
      let out: RawResponse | Promise<RawResponse>;
      try {
        out = answered(deps, x, res, started);
      } catch (err) {
        return settle.failed(err);
      }
      return completed(settle, out);
    },
    (err) => {
      let out: RawResponse;
      try {
        out = unreached(deps, x, err, started);
      } catch (e) {
        return settle.failed(e);
      }
      return settle.done(out);
    },
  );
}

/** The answer completed by `settle` (once a streamed one is ready; its failure, `failed`'s). */
function completed(
  settle: RawSettle,
  out: RawResponse | Promise<RawResponse>,
): RawResponse | Promise<RawResponse> {
  if (!(out instanceof Promise)) return settle.done(out);
  return out.then((r) => settle.done(r), (err) => settle.failed(err));
}

/** The agent's answer, recorded and passed on (a small body whole, anything else streaming). */
function answered(
  deps: ProxyDeps,
  x: Exchange,
  res: ClientResponse,
  started: number,
): RawResponse | Promise<RawResponse> {
  // One read of the clock ends both the agent's latency and the request's (its metric).
  const endedAt = performance.now();
  if (isReadableStream(res.body)) return streamed(deps, x, res, res.body, started, endedAt);
  return passOn(deps, x, res, res.body, started, endedAt);
}

function passOn(
  deps: ProxyDeps,
  x: Exchange,
  res: ClientResponse,
  body: RawResponse["body"],
  started: number,
  endedAt: number,
): RawResponse {
  const { traceId, headers } = x;
  const latency = Math.round(endedAt - started);
  const details = responseDetails(res.status, latency, res.contentType);
  deps.recorder.record("response", traceId, details, x.recorded);
  if (res.contentType) headers.push(["content-type", res.contentType]);
  headers.push(["X-Agent-Latency-Ms", String(latency)]);
  return { status: res.status, headers, body, release: res.release, endedAt };
}

/**
 * A streamed answer: its first piece is read before the head is passed on (the server waits for
 * it anyway), so a body the agent frames wrongly, cuts short or never starts within the timeout
 * from the outset is the client's 502/504 with a JSON body, not an empty reply. A failure after
 * that can only cut the stream (its head is out); the recorder gets an `error` record for it.
 */
async function streamed(
  deps: ProxyDeps,
  x: Exchange,
  res: ClientResponse,
  body: ReadableStream<Uint8Array>,
  started: number,
  endedAt: number,
): Promise<RawResponse> {
  const reader = body.getReader();
  let first: ReadableStreamReadResult<Uint8Array>;
  try {
    first = await reader.read();
  } catch (err) {
    reader.cancel(err).catch(() => {});
    return unreached(deps, x, err, started);
  }
  let pending: Uint8Array | undefined = first.done ? undefined : first.value;
  let done = first.done;
  const rest = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending !== undefined) {
        controller.enqueue(pending);
        pending = undefined;
        return;
      }
      if (done) return controller.close();
      try {
        const r = await reader.read();
        if (r.done) {
          done = true;
          controller.close();
        } else controller.enqueue(r.value);
      } catch (err) {
        const { error } = failure(err);
        deps.recorder.record("error", x.traceId, {
          error,
          cause: errorMessage(err),
          status: res.status,
          latency_ms: Math.round(performance.now() - started),
        }, x.recorded);
        controller.error(err);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return passOn(deps, x, res, rest, started, endedAt);
}

/** The answer when the agent could not be reached or failed to answer in time. */
function unreached(deps: ProxyDeps, x: Exchange, err: unknown, started: number): RawResponse {
  const { status, error } = failure(err);
  const endedAt = performance.now();
  deps.recorder.record("error", x.traceId, {
    error,
    cause: errorMessage(err),
    status,
    latency_ms: Math.round(endedAt - started),
  }, x.recorded);
  return { ...json(status, { error, trace_id: x.traceId }, x.headers), endedAt };
}
