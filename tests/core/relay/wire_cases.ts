/**
 * The relay's answers off the wire for requests that are not its happy paths (unknown paths and
 * methods, HEAD, bodies on GET, CORS preflights, auth failures, bad input) and for the built-in
 * routes, normalized so two runs compare: header names sorted, `date` dropped, generated ids
 * replaced. wire_answers_test.ts compares them with the answers recorded in
 * fixtures/relay_wire_answers.json.
 * @module
 */
import type { RelayConfig } from "../../../cmd/relay.ts";
import type { DeepPartial } from "../../../core/config/mod.ts";
import type { Service } from "../../../core/http/mod.ts";
import { RawConn } from "../../support/raw_http.ts";

/** A relay configuration the cases run against. */
export const WIRE_CONFIGS: Record<string, DeepPartial<RelayConfig>> = {
  open: {},
  tokens: { tokens: { "tok-publish-a-1": ["publish:a.*"], "tok-subscribe-b": ["subscribe:b"] } },
  cors: { cors_origins: ["http://ok.example"] },
  cors_tokens: {
    cors_origins: ["http://ok.example"],
    tokens: { "tok-publish-a-1": ["publish:a.*"] },
  },
};

const PUBLISH = JSON.stringify({ topic: "a.one", payload: { n: 1 } });
const PREFLIGHT = "Origin: http://ok.example\r\nAccess-Control-Request-Method: POST\r\n" +
  "Access-Control-Request-Headers: authorization, content-type\r\n";

/** One request: its name and its head (and body) as sent, without the Host line. */
const CASES: Array<[string, string]> = [
  ["health", "GET /health HTTP/1.1\r\n"],
  ["health with an id", "GET /health HTTP/1.1\r\nX-Request-Id: abc-123\r\n"],
  ["health with an unsafe id", "GET /health HTTP/1.1\r\nX-Request-Id: ../etc\r\n"],
  ["health query", "GET /health?x=1 HTTP/1.1\r\n"],
  ["health absolute-form", "GET http://localhost/health HTTP/1.1\r\n"],
  ["health HEAD", "HEAD /health HTTP/1.1\r\n"],
  ["health POST", "POST /health HTTP/1.1\r\nContent-Length: 0\r\n"],
  ["health DELETE", "DELETE /health HTTP/1.1\r\n"],
  ["health with a body", "GET /health HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"],
  ["health with a huge body", "GET /health HTTP/1.1\r\nContent-Length: 99999999\r\n"],
  ["health escaped", "GET /%68ealth HTTP/1.1\r\n"],
  ["health slash", "GET /health/ HTTP/1.1\r\n"],
  ["health from an allowed origin", "GET /health HTTP/1.1\r\nOrigin: http://ok.example\r\n"],
  ["health from another origin", "GET /health HTTP/1.1\r\nOrigin: http://evil.example\r\n"],
  ["ready", "GET /ready HTTP/1.1\r\n"],
  ["ready HEAD", "HEAD /ready HTTP/1.1\r\n"],
  ["metrics", "GET /metrics HTTP/1.1\r\n"],
  ["metrics as JSON", "GET /metrics HTTP/1.1\r\nAccept: application/json\r\n"],
  ["metrics POST", "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n"],
  ["unknown path", "GET /nope HTTP/1.1\r\n"],
  ["unknown path POST", "POST /nope HTTP/1.1\r\nContent-Length: 0\r\n"],
  ["root", "GET / HTTP/1.1\r\n"],
  ["publish GET", "GET /publish HTTP/1.1\r\n"],
  ["publish DELETE", "DELETE /publish HTTP/1.1\r\n"],
  ["topics PUT", "PUT /topics HTTP/1.1\r\nContent-Length: 0\r\n"],
  ["subscribe POST", "POST /subscribe HTTP/1.1\r\nContent-Length: 0\r\n"],
  ["OPTIONS publish", "OPTIONS /publish HTTP/1.1\r\n"],
  ["preflight publish", `OPTIONS /publish HTTP/1.1\r\n${PREFLIGHT}`],
  ["preflight health", `OPTIONS /health HTTP/1.1\r\n${PREFLIGHT}`],
  ["preflight unknown", `OPTIONS /nope HTTP/1.1\r\n${PREFLIGHT}`],
  [
    "preflight from another origin",
    "OPTIONS /publish HTTP/1.1\r\nOrigin: http://evil.example\r\n" +
    "Access-Control-Request-Method: POST\r\n",
  ],
  ["publish", publishHead("") + PUBLISH],
  ["publish with a token", publishHead("Authorization: Bearer tok-publish-a-1\r\n") + PUBLISH],
  ["publish with a bad token", publishHead("Authorization: Bearer nope-nope-nope\r\n") + PUBLISH],
  ["publish out of scope", publishHead("Authorization: Bearer tok-subscribe-b\r\n") + PUBLISH],
  ["publish malformed auth", publishHead("Authorization: Basic eDp5\r\n") + PUBLISH],
  [
    "publish from an allowed origin",
    publishHead("Origin: http://ok.example\r\nAuthorization: Bearer tok-publish-a-1\r\n") +
    PUBLISH,
  ],
  ["publish bad JSON", "POST /publish HTTP/1.1\r\nContent-Length: 3\r\n\r\n{x}"],
  ["publish too large", "POST /publish HTTP/1.1\r\nContent-Length: 99999999\r\n"],
  ["topics", "GET /topics HTTP/1.1\r\n"],
  ["topics with a token", "GET /topics HTTP/1.1\r\nAuthorization: Bearer tok-subscribe-b\r\n"],
  ["subscribe without a topic", "GET /subscribe HTTP/1.1\r\n"],
  ["subscribe bad pattern", "GET /subscribe?topic=a..b HTTP/1.1\r\n"],
  ["subscribe HEAD", "HEAD /subscribe?topic=b HTTP/1.1\r\n"],
  [
    "subscribe out of scope",
    "GET /subscribe?topic=a HTTP/1.1\r\nAuthorization: Bearer tok-subscribe-b\r\n",
  ],
];

function publishHead(extra: string): string {
  return "POST /publish HTTP/1.1\r\nContent-Type: application/json\r\n" + extra +
    `Content-Length: ${PUBLISH.length}\r\n\r\n`;
}

/** A normalized answer. */
export interface WireAnswer {
  status: number;
  headers: string[];
  body: unknown;
}

const GENERATED = new Set(["request_id", "event_id", "id", "last_id", "oldest_id", "epoch"]);

function normalizeJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalizeJson);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(
    Object.entries(v).map(([k, x]) => [k, GENERATED.has(k) ? "<generated>" : normalizeJson(x)]),
  );
}

function normalizeBody(contentType: string | undefined, body: string): unknown {
  if (body === "") return "";
  if (contentType?.startsWith("application/json")) return normalizeJson(JSON.parse(body));
  // Prometheus text carries this process's own numbers: its presence is what compares.
  if (contentType?.startsWith("text/plain")) return body.length > 0 ? "<text>" : "";
  return body;
}

/** Sends one case on its own connection and reads the answer. */
async function answer(port: number, request: string): Promise<WireAnswer> {
  const at = request.indexOf("\r\n\r\n");
  const head = at < 0 ? request : request.slice(0, at + 2);
  const body = at < 0 ? "" : request.slice(at + 4);
  const conn = await RawConn.open(port);
  try {
    await conn.write(`${head}Host: 127.0.0.1\r\nConnection: close\r\n\r\n${body}`);
    // A subscription that opens streams on: its head is what compares.
    const headOnly = head.startsWith("HEAD ") || /^GET \/subscribe\?topic=/.test(head);
    const r = await conn.read(10_000, { head: headOnly });
    if (!r) return { status: 0, headers: [], body: "no answer" };
    const id = /x-request-id: ([^\r]*)/i.exec(head)?.[1];
    const headers = r.headers.filter(([k]) => k !== "date").map(([k, v]) =>
      k === "x-request-id" && v !== id ? `${k}: <generated>` : `${k}: ${v}`
    ).sort();
    const type = r.headers.find(([k]) => k === "content-type")?.[1];
    // Prometheus text carries this process's own numbers, so its length too.
    const counted = type?.startsWith("text/plain")
      ? headers.map((h) => h.startsWith("content-length:") ? "content-length: <n>" : h)
      : headers;
    return { status: r.status, headers: counted, body: normalizeBody(type, r.body) };
  } finally {
    conn.close();
  }
}

/** Every case's answer from a relay started by `start` with each configuration. */
export async function wireAnswers(
  start: (config: DeepPartial<RelayConfig>) => Promise<Service>,
): Promise<Record<string, Record<string, WireAnswer>>> {
  const out: Record<string, Record<string, WireAnswer>> = {};
  for (const [name, config] of Object.entries(WIRE_CONFIGS)) {
    const svc = await start(config);
    try {
      const port = Number(new URL(svc.url).port);
      const answers: Record<string, WireAnswer> = {};
      for (const [label, request] of CASES) answers[label] = await answer(port, request);
      out[name] = answers;
    } finally {
      await svc.close();
    }
  }
  return out;
}
