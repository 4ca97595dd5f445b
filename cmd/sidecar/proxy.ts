/**
 * `POST /proxy[/<path>]`: the IATP decision order over one request. Body limit, JSON object
 * check, one scan for cards and SSNs (the same pass yields the scrubbed copy the recorder
 * keeps), the trust decision, then a streamed forward to the agent with a timeout.
 * @module
 */
import type { Context } from "hono";
import type { AppEnv } from "../../core/http/mod.ts";
import { scrubJsonText } from "../../core/pii/mod.ts";
import { type FlightRecorder, isValidTraceId } from "../../core/recorder/mod.ts";
import { decideTrust, type DecisionContext, type OverridePolicy } from "../../core/trust/mod.ts";
import { readBoundedBody } from "./body.ts";
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

function json(status: number, body: Record<string, unknown>, headers: Headers): Response {
  headers.set("content-type", "application/json");
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
export function upstreamPath(agentUrl: string, requestUrl: string): string {
  const base = new URL(agentUrl);
  const u = new URL(requestUrl);
  const rest = u.pathname.slice("/proxy".length);
  const basePath = base.pathname;
  if (rest === "" || rest === "/") {
    return (rest === "/" && !basePath.endsWith("/") ? basePath + "/" : basePath) + u.search;
  }
  return basePath.replace(/\/+$/, "") + rest + u.search;
}

/** Builds the handler. */
export function proxyHandler(deps: ProxyDeps): (c: Context<AppEnv>) => Promise<Response> {
  const allow = deps.forwardHeaders.map((h) => h.toLowerCase()).filter((h) => !NEVER_FORWARD.has(h));
  const scoreHeader = String(deps.decision.trustScore);
  const rec = deps.recorder;
  return async (c) => {
    const req = c.req.raw;
    const incoming = req.headers.get("x-agent-trace-id");
    const traceId = isValidTraceId(incoming) ? incoming : crypto.randomUUID();
    const headers = new Headers({ "X-Agent-Trace-ID": traceId, "X-Agent-Trust-Score": scoreHeader });
    const body = await readBoundedBody(req, deps.maxBodyBytes);
    if (!body.ok) {
      rec.record("error", traceId, { error: body.reason, status: body.status });
      const message = body.status === 413 ? "Request body too large" : "Failed to read request body";
      return json(body.status, { error: message, limit_bytes: deps.maxBodyBytes, trace_id: traceId }, headers);
    }
    const parsed = parseObject(body.bytes, deps.maxJsonDepth);
    if ("invalid" in parsed) {
      rec.record("error", traceId, { error: "Invalid JSON", detail: parsed.invalid, status: 400 });
      return json(400, { error: "Invalid JSON", detail: parsed.invalid, trace_id: traceId }, headers);
    }
    const payload = parsed.scrubbed.length > deps.tracePayloadChars
      ? parsed.scrubbed.slice(0, deps.tracePayloadChars)
      : parsed.scrubbed;
    rec.record("request", traceId, {
      method: req.method,
      path: new URL(req.url).pathname,
      payload,
      ...(payload.length < parsed.scrubbed.length ? { payload_truncated: true } : {}),
      payload_bytes: body.bytes.length,
      sensitive: { credit_card: parsed.card, ssn: parsed.ssn },
    });
    const overrideValid = deps.decision.trustScore < 7 &&
      deps.override.accepts(req.headers.get("x-user-override"));
    const d = decideTrust(deps.decision, { creditCard: parsed.card, ssn: parsed.ssn }, overrideValid);
    if (d.action === "block") {
      rec.record("blocked", traceId, { reason: d.reason, error: d.message, status: 403 });
      return json(403, { error: d.message, blocked: true, reason: d.reason, trace_id: traceId }, headers);
    }
    if (d.action === "warn") {
      rec.record("warning", traceId, { warning: d.warning, trust_score: d.trustScore, status: 449 });
      return json(449, {
        warning: d.warning,
        requires_override: true,
        trust_score: d.trustScore,
        trace_id: traceId,
      }, headers);
    }
    if (d.quarantined || d.overridden) {
      rec.record("quarantine", traceId, {
        reason: d.overridden ? "low_trust_override" : "quarantined_agent",
        quarantined: d.quarantined,
        trust_score: deps.decision.trustScore,
      });
      if (d.quarantined) headers.set("X-Agent-Quarantined", "true");
    }
    return await forward(deps, req, body.bytes, traceId, headers, allow);
  };
}

async function forward(
  deps: ProxyDeps,
  req: Request,
  bytes: Uint8Array<ArrayBuffer>,
  traceId: string,
  headers: Headers,
  allow: string[],
): Promise<Response> {
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
    res = await deps.send(upstreamPath(deps.agentUrl, req.url), out, bytes, deps.timeoutMs);
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
  if (res.contentType) headers.set("content-type", res.contentType);
  headers.set("X-Agent-Latency-Ms", String(latency));
  // Small bodies arrive whole; anything else streams through without being buffered here.
  return new Response(res.body, { status: res.status, headers });
}
