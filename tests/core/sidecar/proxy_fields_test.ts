/**
 * The proxy's fields are safe by construction, so neither side checks them twice: every answer's
 * header pairs (its own and the agent's content type) pass the server's `checkHeaderPairs` rule, and
 * the forwarded request's pairs pass the upstream client's rules (token names, no CTL but HTAB
 * in a value, no character beyond one byte), obs-text and HTAB in what the client sent included.
 * @module
 */
import assert from "node:assert/strict";
import type { RawRequest, RawResponse } from "../../../core/http/mod.ts";
import {
  type ClientRequest,
  type ClientResponse,
  HttpClientError,
} from "../../../core/http/client/mod.ts";
import { createProxy } from "../../../core/sidecar/proxy.ts";

/** The upstream client's rules for a request's fields (core/http/client/pool.ts). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_FIELD_TEXT = /[^\t\x20-\x7e\x80-\xff]/;
/** The server's rule for an answer's field values (`checkHeaderPairs`, core/http/h1/response.ts). */
const BAD_FIELD_VALUE = /[\r\n\0\u0100-\uffff]/;

/** Throws as `checkHeaderPairs` does for a field the writer could not write as it is. */
function checkHeaderPairs(headers: ReadonlyArray<readonly [string, string, ...unknown[]]>): void {
  for (const [name, value] of headers) {
    if (!TOKEN.test(name) || BAD_FIELD_VALUE.test(value)) throw new TypeError(name);
  }
}

function request(body: string, fields: Array<[string, string]>): RawRequest {
  const bytes = new TextEncoder().encode(body);
  return {
    method: "POST",
    target: "/proxy/a",
    headers: fields,
    // Repeated fields joined with ", ", as the connection's request does.
    header: (name) => {
      const values = fields.filter(([n]) => n === name).map(([, v]) => v);
      return values.length === 0 ? null : values.join(", ");
    },
    body: () => Promise.resolve(bytes.slice()),
    bodyNow: () => bytes.slice(),
  };
}

function proxyWith(
  answer: (req: ClientRequest) => Promise<ClientResponse>,
  opts: { quarantined?: boolean; retention?: "ephemeral" | "permanent" } = {},
) {
  return createProxy({
    agentUrl: "http://127.0.0.1:9/",
    send: answer,
    decision: {
      retention: opts.retention ?? "ephemeral",
      reversibility: "full",
      humanInLoop: false,
      trustScore: 10,
      quarantined: opts.quarantined ?? false,
    },
    override: { mode: "disabled", legacy: false, notices: [], accepts: () => false },
    recorder: { record: () => 0, readsAtOnce: false },
    timeoutMs: 1_000,
    maxBodyBytes: 1 << 10,
    maxJsonDepth: 32,
    tracePayloadChars: 100,
    forwardHeaders: ["x-tenant", "accept"],
  });
}

/** Field values a request head may carry: obs-text, HTAB inside, a list joined with ", ". */
const FIELDS: Array<[string, string]> = [
  ["content-type", 'application/json; note="caf\u00e9\tx"'],
  ["x-agent-trace-id", "Trace-1._x"],
  ["x-tenant", "acme \u00ff\tdept"],
  ["accept", "a/b"],
  ["accept", "*/*"],
];

Deno.test("a forwarded request's fields pass the upstream client's rules", async () => {
  let sent: ClientRequest | undefined;
  const proxy = proxyWith((req) => {
    sent = req;
    return Promise.resolve({ status: 200, contentType: "application/json", body: null });
  });
  const res: RawResponse = await proxy.serve(request('{"a":1}', FIELDS));
  assert.equal(res.status, 200);
  assert.ok(sent);
  assert.equal(sent.headersChecked, true);
  assert.deepEqual(sent.headers.map(([n]) => n), [
    "content-type",
    "x-agent-trace-id",
    "x-tenant",
    "accept",
  ]);
  for (const [name, value] of sent.headers) {
    assert.match(name, TOKEN);
    assert.doesNotMatch(value, BAD_FIELD_TEXT, name);
  }
  assert.equal(sent.headers[3][1], "a/b, */*");
});

Deno.test("every /proxy answer's fields pass checkHeaderPairs", async () => {
  const type = 'text/plain; charset="\u00e9"\tv=1';
  const cases: Array<[string, () => Promise<RawResponse>]> = [
    ["agent's answer, quarantined", async () =>
      await proxyWith(
        () => Promise.resolve({ status: 201, contentType: type, body: null }),
        { quarantined: true },
      ).serve(request('{"a":1}', FIELDS))],
    ["invalid JSON", async () =>
      await proxyWith(() => Promise.reject(new Error("not sent"))).serve(
        request("[1]", FIELDS),
      )],
    [
      "body too large",
      async () =>
        await proxyWith(() => Promise.reject(new Error("not sent"))).serve(
          request(`{"a":"${"x".repeat(2048)}"}`, FIELDS),
        ),
    ],
    [
      "blocked",
      async () =>
        await proxyWith(() => Promise.reject(new Error("not sent")), { retention: "permanent" })
          .serve(request('{"card":"4532-0151-1283-0366"}', FIELDS)),
    ],
    [
      "agent unreachable",
      async () =>
        await proxyWith(() => Promise.reject(new HttpClientError("connect", "refused"))).serve(
          request('{"a":1}', FIELDS),
        ),
    ],
    [
      "unsafe trace id replaced",
      async () =>
        await proxyWith(() => Promise.resolve({ status: 200, contentType: null, body: null }))
          .serve(request("{}", [["x-agent-trace-id", "a b\u00e9"]])),
    ],
  ];
  for (const [what, answer] of cases) {
    const res = await answer();
    assert.ok(res.headers.length >= 2, what);
    assert.doesNotThrow(() => checkHeaderPairs(res.headers), what);
  }
});
