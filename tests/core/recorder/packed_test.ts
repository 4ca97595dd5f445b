// Packed flight-recorder records: payloads in the ring's arena (wrapping, growing, cut at the
// bound on a UTF-8 boundary), scrubbed when read, and slots reused after eviction.
import assert from "node:assert/strict";
import { PayloadArena, utf8Prefix } from "../../../core/recorder/arena.ts";
import {
  FlightRecorder,
  PackedDetails,
  type PackedFields,
  type TraceRecord,
} from "../../../core/recorder/mod.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** Details of a packed test record: its payload text and numbers. */
function build(p: PackedFields): Record<string, unknown> {
  return { payload: text.decode(p.payload), n: p.a, m: p.b, flags: p.flags, ref: p.ref };
}

function packed(payload: Uint8Array | string | undefined, n = 0): PackedDetails {
  return new PackedDetails(build, "shared", n, n * 2, n & 7, payload);
}

function payloads(records: TraceRecord[]): unknown[] {
  return records.map((r) => r.details.payload);
}

Deno.test("packed records keep their fields and payload, built when first read", () => {
  const r = new FlightRecorder({ capacity: 3, payloadBytes: 64 });
  r.record("request", "a", packed(utf8.encode('{"x":1}'), 5));
  r.record("response", "a", packed(undefined, 6));
  const [req, res] = r.trace("a");
  assert.deepEqual(req.details, { payload: '{"x":1}', n: 5, m: 10, flags: 5, ref: "shared" });
  assert.deepEqual(res.details, { payload: "", n: 6, m: 12, flags: 6, ref: "shared" });
  assert.strictEqual(r.trace("a")[0], req, "built once");
});

Deno.test("the arena wraps and grows while every live payload stays whole, evicted ones go", () => {
  // Capacity 5, payloads of 1..40 KB: the arena starts at 64 KiB, wraps and grows.
  const r = new FlightRecorder({ capacity: 5, payloadBytes: 40_000 });
  const body = (i: number) => String.fromCharCode(97 + i % 26).repeat(1_000 * (1 + i * 7 % 40));
  for (let i = 0; i < 60; i++) {
    r.record("request", `t${i}`, packed(i % 2 === 0 ? utf8.encode(body(i)) : body(i), i));
    for (let k = Math.max(0, i - 4); k <= i; k++) {
      assert.deepEqual(payloads(r.trace(`t${k}`)), [body(k)], `record ${k} after ${i}`);
    }
    if (i >= 5) assert.deepEqual(r.trace(`t${i - 5}`), [], `t${i - 5} was evicted`);
  }
});

Deno.test("unread payloads survive growth and wraps (nothing read until the end)", () => {
  const r = new FlightRecorder({ capacity: 7, payloadBytes: 30_000 });
  const body = (i: number) => `${i}:` + "z".repeat((i * 7_919) % 30_000);
  for (let i = 0; i < 100; i++) r.record("request", `u${i % 9}`, packed(body(i)));
  const seen = new Map<string, unknown[]>();
  for (let k = 0; k < 9; k++) seen.set(`u${k}`, payloads(r.trace(`u${k}`)));
  // The last 7 records: i = 93..99.
  for (let i = 93; i < 100; i++) {
    const p = seen.get(`u${i % 9}`) ?? [];
    assert.ok(p.includes(body(i).slice(0, 30_000)), `payload ${i}`);
  }
  assert.equal([...seen.values()].flat().length, 7);
});

Deno.test("payloads at the bound are kept whole; over it they are cut, never mid-character", () => {
  const r = new FlightRecorder({ capacity: 4, payloadBytes: 8 });
  r.record("request", "at", packed(utf8.encode("12345678")));
  r.record("request", "over", packed(utf8.encode("123456789")));
  // "ab" then "é" (2 bytes) at bytes 7-8: cut before it, as bytes and as text.
  r.record("request", "mb-bytes", packed(utf8.encode("abcdefgé")));
  r.record("request", "mb-text", packed("abcdefg€x"));
  assert.deepEqual(payloads(r.trace("at")), ["12345678"]);
  assert.deepEqual(payloads(r.trace("over")), ["12345678"]);
  assert.deepEqual(payloads(r.trace("mb-bytes")), ["abcdefg"]);
  assert.deepEqual(payloads(r.trace("mb-text")), ["abcdefg"]);
  const zero = new FlightRecorder({ capacity: 2, payloadBytes: 0 });
  zero.record("request", "z", packed("abc"));
  assert.deepEqual(payloads(zero.trace("z")), [""]);
});

Deno.test("utf8Prefix cuts before a split sequence of any length", () => {
  const emoji = utf8.encode("a😀b"); // 1 + 4 + 1 bytes
  for (let max = 0; max <= emoji.length; max++) {
    const cut = text.decode(utf8Prefix(emoji, max));
    const want = max >= 6 ? "a😀b" : max >= 5 ? "a😀" : max >= 1 ? "a" : "";
    assert.equal(cut, want, `max ${max}`);
  }
});

Deno.test("payloads read from the arena are scrubbed before anyone sees them", () => {
  const seen: TraceRecord[] = [];
  for (const onRecord of [undefined, (x: TraceRecord) => seen.push(x)]) {
    const r = new FlightRecorder({ capacity: 3, payloadBytes: 256, onRecord });
    const secret =
      '{"card":"4532 0151 1283 0366","auth":"Bearer abcdefgh12345678","ssn":"078-05-1120"}';
    r.record("request", "s", packed(utf8.encode(secret)));
    r.record("request", "s", packed(secret));
    const out = JSON.stringify(r.trace("s")) + JSON.stringify(seen);
    for (const raw of ["4532", "abcdefgh12345678", "078-05"]) assert.ok(!out.includes(raw), out);
    assert.ok(out.includes("[CREDIT_CARD_REDACTED]") && out.includes("[SSN_REDACTED]"));
  }
  assert.equal(seen.length, 2);
});

Deno.test("a trace read after its slot was reused finds only its own records", () => {
  const r = new FlightRecorder({ capacity: 2, payloadBytes: 16 });
  r.record("request", "old", packed("old-payload"));
  r.record("request", "mid", packed("mid-payload"));
  r.record("request", "new", packed("new-payload")); // reuses old's slot
  assert.deepEqual(r.trace("old"), []);
  assert.deepEqual(payloads(r.trace("new")), ["new-payload"]);
  r.record("response", "new", packed(undefined, 1)); // reuses mid's slot, unread
  assert.deepEqual(r.trace("mid"), []);
  assert.deepEqual(r.trace("new").map((x) => x.type), ["request", "response"]);
});

Deno.test("PayloadArena is bounded by records + 1 payloads and frees in order", () => {
  const a = new PayloadArena(3, 50_000);
  assert.equal(a.maxBytes, 200_000);
  // Small payloads first (the oldest live one is far from the start), then large ones (growth
  // moves the live ones).
  const size = (i: number) => i < 1_000 ? 100 : 50_000;
  for (let i = 0; i < 1_040; i++) {
    const slot = i % 3;
    a.free(slot);
    a.put(slot, new Uint8Array(size(i)).fill(i & 255));
    for (let k = Math.max(0, i - 2); k <= i; k++) {
      const v = a.view(k % 3);
      assert.ok(v && v.length === size(k) && v.every((b) => b === (k & 255)), `${k} after ${i}`);
    }
    assert.ok(a.bufferBytes <= a.maxBytes);
  }
  a.free(0);
  assert.equal(a.view(0), undefined);
});

Deno.test("a full-sized arena holds every payload of a full ring without moving them again", () => {
  for (const perRecord of [1, 7, 4_096]) {
    const records = 5;
    const a = new PayloadArena(records, perRecord);
    const next = (i: number) => 1 + (i * 7_919) % perRecord; // sizes that leave gaps at the end
    let moves = -1;
    for (let i = 0; i < 2_000; i++) {
      const slot = i % records;
      a.free(slot);
      a.put(slot, new Uint8Array(i % 3 ? next(i) : perRecord).fill(i & 255));
      assert.equal(a.view(slot)?.length, i % 3 ? next(i) : perRecord, `payload ${i}`);
      if (a.bufferBytes === a.maxBytes && moves < 0) moves = a.moves;
    }
    assert.ok(moves >= 0, "the buffer reached its bound");
    assert.equal(a.moves, moves, `no move once full-sized (${perRecord})`);
  }
});
