/**
 * `POST /proxy[/<path>]`: the IATP decision order over one request. Body limit, JSON object
 * check, one scan for cards and SSNs (the same pass yields the scrubbed copy the recorder
 * keeps), the trust decision, then a streamed forward to the agent with a timeout.
 * @module
 */
import type { Context } from "hono";
import { HttpError } from "../../core/errors/mod.ts";
import { type AppEnv, readBody } from "../../core/http/mod.ts";
import { scrubJsonText } from "../../core/pii/mod.ts";
import { type FlightRecorder, isValidTraceId } from "../../core/recorder/mod.ts";
import {
  decideTrust,
  type DecisionContext,
  type OverridePolicy,
  WARN_BELOW_SCORE,
} from "../../core/trust/mod.ts";
import { type SendUpstream, UpstreamError } from "./upstream.ts";

/** What the proxy needs, fixed at startup. */
export interface ProxyDeps {
  agentUrl: string;
  send: SendUpstream;
  timeoutMs: number;
  maxBodyBytes: number;
  maxJsonDepth: number;
  tracePayloadChars: number;
  forwardHeaders: string[];
  decision: DecisionContext;
  override: OverridePolicy;
  recorder: FlightRecorder;
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

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Response headers as name/value pairs (cheaper for the runtime than a Headers object). */
type HeaderPairs = Array<[string, string]>;

function json(status: number, body: Record<string, unknown>, headers: HeaderPairs): Response {
  headers.push(["content-type", "application/json"]);
  return new Response(JSON.stringify(body), { status, headers });
}

/** Decodes and checks the body: the JSON text, or a 400 reason. */
function parseObject(
  bytes: Uint8Array<ArrayBuffer>,
  maxDepth: number,
): { text: string; scrubbed: string; card: boolean; ssn: boolean } | { invalid: string } {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { invalid: "body is not UTF-8" };
  }
  const { scan, text: scrubbed } = scrubJsonText(text, maxDepth);
  if (scan.tooDeep) return { invalid: `nesting deeper than ${maxDepth} levels` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { invalid: "body is not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { invalid: "body is not a JSON object" };
  }
  return { text, scrubbed, card: scan.creditCards > 0, ssn: scan.ssns > 0 };
}

/** The agent path for `/proxy/<rest>`: the agent URL's path joined with `<rest>`, query kept. */
export function upstreamPath(basePath: string, url: { pathname: string; search: string }): string {
  const rest = url.pathname.slice("/proxy".length);
  if (rest === "" || rest === "/") {
    return (rest === "/" && !basePath.endsWith("/") ? basePath + "/" : basePath) + url.search;
  }
  return basePath.replace(/\/+$/, "") + rest + url.search;
}

/** What a request URL means to the proxy. */
interface Target {
  /** The sidecar path, as recorded. */
  pathname: string;
  /** Path and query on the agent. */
  upstream: string;
}

/** Distinct request URLs whose parse is remembered (clients repeat the same few). */
const TARGET_CACHE_SIZE = 256;

/** One request in flight: what every step needs. */
interface Exchange {
  req: Request;
  target: Target;
  traceId: string;
  /** Response headers every /proxy answer carries (more are appended). */
  headers: HeaderPairs;
}

/** Reads, checks and records the request; a Response when it ends here (413, 400). */
async function admit(
  deps: ProxyDeps,
  x: Exchange,
): Promise<Response | { bytes: Uint8Array<ArrayBuffer>; card: boolean; ssn: boolean }> {
  const rec = deps.recorder;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await readBody(x.req, { limit: deps.maxBodyBytes });
  } catch (err) {
    // 413 over the limit; 400 (or 408 from the edge) when the body breaks off or stalls.
    const status = err instanceof HttpError && err.status < 500 ? err.status : 400;
    rec.record("error", x.traceId, { error: (err as Error).message, status });
    const error = status === 413 ? "Request body too large" : "Failed to read request body";
    const limit_bytes = deps.maxBodyBytes;
    return json(status, { error, limit_bytes, trace_id: x.traceId }, x.headers);
  }
  const parsed = parseObject(bytes, deps.maxJsonDepth);
  if ("invalid" in parsed) {
    rec.record("error", x.traceId, { error: "Invalid JSON", detail: parsed.invalid, status: 400 });
    const out = { error: "Invalid JSON", detail: parsed.invalid, trace_id: x.traceId };
    return json(400, out, x.headers);
  }
  const payload = parsed.scrubbed.slice(0, deps.tracePayloadChars);
  rec.record("request", x.traceId, {
    method: x.req.method,
    path: x.target.pathname,
    payload,
    ...(payload.length < parsed.scrubbed.length ? { payload_truncated: true } : {}),
    payload_bytes: bytes.length,
    sensitive: { credit_card: parsed.card, ssn: parsed.ssn },
  });
  return { bytes, card: parsed.card, ssn: parsed.ssn };
}

/** Applies the trust decision; a Response when it blocks (403) or warns (449). */
function judge(deps: ProxyDeps, x: Exchange, card: boolean, ssn: boolean): Response | undefined {
  const rec = deps.recorder;
  const score = deps.decision.trustScore;
  const overrideValid = score < WARN_BELOW_SCORE &&
    deps.override.accepts(x.req.headers.get("x-user-override"));
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
    rec.record("quarantine", x.traceId, {
      reason: d.overridden ? "low_trust_override" : "quarantined_agent",
      quarantined: d.quarantined,
      trust_score: score,
    });
    if (d.quarantined) x.headers.push(["X-Agent-Quarantined", "true"]);
  }
  return undefined;
}

/** The proxy, independent of the router: `handle` serves one `POST /proxy[/<path>]`. */
export interface Proxy {
  handle(req: Request): Promise<Response>;
}

/** Builds the proxy. */
export function createProxy(deps: ProxyDeps): Proxy {
  const allow = deps.forwardHeaders.map((h) => h.toLowerCase()).filter((h) =>
    !NEVER_FORWARD.has(h)
  );
  const scoreHeader = String(deps.decision.trustScore);
  const basePath = new URL(deps.agentUrl).pathname;
  const targets = new Map<string, Target>();
  const targetOf = (href: string): Target => {
    let t = targets.get(href);
    if (!t) {
      const url = new URL(href);
      t = { pathname: url.pathname, upstream: upstreamPath(basePath, url) };
      if (targets.size >= TARGET_CACHE_SIZE) targets.clear();
      targets.set(href, t);
    }
    return t;
  };
  return {
    async handle(req) {
      const incoming = req.headers.get("x-agent-trace-id");
      const traceId = isValidTraceId(incoming) ? incoming : crypto.randomUUID();
      const headers: HeaderPairs = [
        ["X-Agent-Trace-ID", traceId],
        ["X-Agent-Trust-Score", scoreHeader],
      ];
      const x: Exchange = { req, target: targetOf(req.url), traceId, headers };
      const input = await admit(deps, x);
      if (input instanceof Response) return input;
      const stop = judge(deps, x, input.card, input.ssn);
      if (stop) return stop;
      return await forward(deps, x, x.target.upstream, input.bytes, allow);
    },
  };
}

/** Builds the Hono handler. */
export function proxyHandler(deps: ProxyDeps): (c: Context<AppEnv>) => Promise<Response> {
  const proxy = createProxy(deps);
  return (c) => proxy.handle(c.req.raw);
}

async function forward(
  deps: ProxyDeps,
  x: Exchange,
  path: string,
  bytes: Uint8Array<ArrayBuffer>,
  allow: string[],
): Promise<Response> {
  const { req, traceId, headers } = x;
  const out: Array<[string, string]> = [
    ["content-type", req.headers.get("content-type") ?? "application/json"],
    ["x-agent-trace-id", traceId],
  ];
  for (const name of allow) {
    const v = req.headers.get(name);
    if (v !== null) out.push([name, v]);
  }
  const started = performance.now();
  let res;
  try {
    res = await deps.send(path, out, bytes, deps.timeoutMs);
  } catch (err) {
    const timedOut = err instanceof UpstreamError && err.kind === "timeout";
    const status = timedOut ? 504 : 502;
    const error = timedOut ? "Backend agent timeout" : "Failed to reach backend agent";
    deps.recorder.record("error", traceId, {
      error,
      cause: err instanceof Error ? err.message : String(err),
      status,
      latency_ms: Math.round(performance.now() - started),
    });
    return json(status, { error, trace_id: traceId }, headers);
  }
  const latency = Math.round(performance.now() - started);
  deps.recorder.record("response", traceId, {
    status: res.status,
    status_code: res.status,
    latency_ms: latency,
    ...(res.contentType ? { content_type: res.contentType } : {}),
  });
  if (res.contentType) headers.push(["content-type", res.contentType]);
  headers.push(["X-Agent-Latency-Ms", String(latency)]);
  // Small bodies arrive whole; anything else streams through without being buffered here.
  return new Response(res.body, { status: res.status, headers });
}
