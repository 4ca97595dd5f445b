// The sidecar's packed request and response records: the JSON shape they had as plain objects,
// payloads kept whole or cut by characters, scrubbed on read, and evicted in order.
import assert from "node:assert/strict";
import { FlightRecorder, type TraceRecord } from "../../../core/recorder/mod.ts";
import {
  type Parsed,
  payloadBytesFor,
  requestDetails,
  responseDetails,
} from "../../../core/sidecar/record.ts";
import type { Target } from "../../../core/sidecar/target.ts";

const utf8 = new TextEncoder();
const target: Target = {
  upstream: "/x?q=1",
  path: "/proxy/x",
  query: "q=1",
  card: false,
  ssn: false,
};
const clean = (text: string): Parsed => ({ scrubbed: text, clean: true, card: false, ssn: false });
const noHeaders = { card: false, ssn: false, recorded: undefined };

function ring(maxChars: number, capacity = 8): FlightRecorder {
  return new FlightRecorder({ capacity, payloadBytes: payloadBytesFor(maxChars) });
}

function request(r: FlightRecorder, id: string, text: string, maxChars: number, body?: Parsed) {
  r.record(
    "request",
    id,
    requestDetails({
      method: "POST",
      target,
      headers: noHeaders,
      bytes: utf8.encode(text),
      body: body ?? clean(text),
      maxChars,
    }),
  );
}

function details(r: FlightRecorder, id: string): Record<string, unknown>[] {
  return r.trace(id).map((x: TraceRecord) => x.details);
}

Deno.test("request and response records keep the shape plain objects had", () => {
  const r = ring(4096);
  request(r, "t", '{"a":1}', 4096);
  r.record("response", "t", responseDetails(201, 7, "application/json"));
  r.record("response", "t", responseDetails(200, 0, null));
  r.record("response", "t", responseDetails(200, 0, ""));
  assert.deepEqual(details(r, "t"), [
    {
      method: "POST",
      path: "/proxy/x",
      query: "q=1",
      payload: '{"a":1}',
      payload_bytes: 7,
      sensitive: { credit_card: false, ssn: false },
    },
    { status: 201, status_code: 201, latency_ms: 7, content_type: "application/json" },
    { status: 200, status_code: 200, latency_ms: 0 },
    { status: 200, status_code: 200, latency_ms: 0 },
  ]);
});

Deno.test("payloads at and over trace_payload_bytes characters, multi-byte ones included", () => {
  const r = ring(8);
  request(r, "at", '"123456"', 8); // 8 bytes: kept as received
  request(r, "over", '"1234567"', 8);
  request(r, "wide", '"éééé"', 8); // 6 characters, 10 bytes: whole, not truncated
  request(r, "cut", '"ééééééé"', 8); // 9 characters: cut to 8
  request(r, "pair", '"1234😀"', 6); // the cut splits a surrogate pair
  const [at, over, wide, cut, pair] = ["at", "over", "wide", "cut", "pair"].map((id) =>
    details(r, id)[0]
  );
  assert.equal(at.payload, '"123456"');
  assert.equal(at.payload_truncated, undefined);
  assert.equal(over.payload, '"1234567');
  assert.equal(over.payload_truncated, true);
  assert.equal(over.payload_bytes, 9);
  assert.equal(wide.payload, '"éééé"');
  assert.equal(wide.payload_truncated, undefined);
  assert.equal(wide.payload_bytes, 10);
  assert.equal(cut.payload, '"ééééééé');
  assert.equal(cut.payload_truncated, true);
  assert.equal(pair.payload, '"1234\uFFFD');
  assert.equal(pair.payload_truncated, true);
});

Deno.test("packed payloads are scrubbed when read; found_in, headers and methods are kept", () => {
  const r = ring(4096);
  const text = '{"card":"4532015112830366","auth":"Bearer abcdefgh12345678"}';
  const body = {
    scrubbed: '{"card":"[CREDIT_CARD_REDACTED]","auth":"Bearer abcdefgh12345678"}',
    clean: false,
    card: true,
    ssn: false,
  };
  request(r, "s", text, 4096, body);
  r.record(
    "request",
    "h",
    requestDetails({
      method: "PUT",
      target: { ...target, query: "", ssn: true },
      headers: { card: true, ssn: false, recorded: { "x-note": "[CREDIT_CARD_REDACTED]" } },
      bytes: utf8.encode("{}"),
      body: clean("{}"),
      maxChars: 4096,
    }),
  );
  const [s] = details(r, "s");
  const out = JSON.stringify(s);
  assert.ok(!out.includes("4532") && !out.includes("abcdefgh12345678"), out);
  assert.deepEqual(s.sensitive, { credit_card: true, ssn: false });
  assert.deepEqual(s.found_in, ["body"]);
  assert.deepEqual(details(r, "h")[0], {
    method: "PUT",
    path: "/proxy/x",
    headers: { "x-note": "[CREDIT_CARD_REDACTED]" },
    payload: "{}",
    payload_bytes: 2,
    sensitive: { credit_card: true, ssn: true },
    found_in: ["url", "headers"],
  });
});

Deno.test("evicted requests leave their trace; the newest keep their payloads after wraps", () => {
  const r = ring(2000, 4);
  const text = (i: number) => JSON.stringify({ i, pad: "p".repeat(i * 97 % 1900) });
  for (let i = 0; i < 50; i++) {
    request(r, `r${i}`, text(i), 2000);
    r.record("response", `r${i}`, responseDetails(200, i, "application/json"));
  }
  for (let i = 0; i < 48; i++) assert.deepEqual(r.trace(`r${i}`), [], `r${i}`);
  for (const i of [48, 49]) {
    const [req, res] = details(r, `r${i}`);
    assert.equal(req.payload, text(i));
    assert.equal(res.latency_ms, i);
  }
});
