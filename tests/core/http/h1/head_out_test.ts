/**
 * Answers written into pooled buffers: the head as the text writer would make it, then the
 * body, with characters up to U+00FF one byte each and framing fields owned by the writer; a small
 * buffer for a small answer, a large one up to its size, none beyond, each reused for its own size.
 */
import assert from "node:assert/strict";
import { headAndBody, pairsText, releaseOut } from "../../../../core/http/h1/head_out.ts";

const latin1 = (b: Uint8Array) => String.fromCharCode(...b);

Deno.test("a head and body in one buffer are the head text's bytes, then the body", () => {
  const body = new TextEncoder().encode('{"ok":true}');
  const cases: Array<[number, Array<[string, string]>, boolean, number]> = [
    [200, [["x-a", "1"], ["content-type", "application/json"]], true, 1],
    [404, [["Content-Length", "99"], ["Connection", "upgrade"], ["x-b", "2"]], false, 1],
    [200, [["Date", "Thu, 01 Jan 1970 00:00:00 GMT"]], true, 0],
    [599, [], true, 1],
  ];
  for (const [status, headers, keep, minor] of cases) {
    const head = pairsText(status, headers, `content-length: ${body.length}\r\n`, keep, minor);
    const out = headAndBody(status, headers, body, keep, minor);
    assert.ok(out);
    // The two may straddle a second: the Date lines are compared by shape.
    const undated = (t: string) =>
      t.replace(/\r\ndate: [A-Z][a-z]{2}, \d\d [^\r]* GMT\r\n/, "\r\n");
    assert.equal(undated(latin1(out.buf.subarray(0, out.length))), undated(head) + '{"ok":true}');
    releaseOut(out);
  }
});

Deno.test("the pooled head has the text writer's bytes for every length, status and framing", () => {
  // Each length's digits, each Connection field, a status seen again, framing fields dropped
  // and a Date given by the handler kept: the same bytes as the text head.
  const undated = (t: string) => t.replace(/\r\ndate: [A-Z][a-z]{2}, \d\d [^\r]* GMT\r\n/, "\r\n");
  for (const size of [0, 1, 9, 10, 99, 100, 1000, 12345]) {
    const body = new Uint8Array(size).fill(0x62);
    for (
      const [status, keep, minor] of [[200, true, 1], [200, true, 0], [502, false, 1]] as const
    ) {
      const headers: Array<[string, string]> = [
        ["X-Agent-Trace-ID", "0f8fad5b-d9cb-469f-a165-70867728950e"],
        ["Transfer-Encoding", "chunked"],
        ["X-Agent-Latency-Ms", String(size)],
      ];
      if (size === 10) headers.push(["DATE", "Thu, 01 Jan 1970 00:00:00 GMT"]);
      const out = headAndBody(status, headers, body, keep, minor);
      assert.ok(out);
      const head = pairsText(status, headers, `content-length: ${size}\r\n`, keep, minor);
      const text = latin1(out.buf.subarray(0, out.length - size));
      assert.equal(undated(text), undated(head));
      assert.deepEqual(out.buf.subarray(out.length - size, out.length), body);
      releaseOut(out);
    }
  }
});

Deno.test("characters beyond ASCII in a head are written one byte each, not as UTF-8", () => {
  const body = Uint8Array.of(0xc3, 0xa9); // "é" in UTF-8, the body's own bytes
  const out = headAndBody(200, [["x-name", "caf\u00e9 \u00ff"]], body, true, 1);
  assert.ok(out);
  const bytes = out.buf.subarray(0, out.length);
  const text = latin1(bytes);
  assert.match(text, /^HTTP\/1\.1 200 OK\r\nx-name: caf\u00e9 \u00ff\r\n/);
  assert.equal(text.length, bytes.length);
  assert.deepEqual([...bytes.subarray(bytes.length - 2)], [0xc3, 0xa9]);
  assert.ok(text.includes("content-length: 2\r\n\r\n"));
  releaseOut(out);
});

Deno.test("a head and body larger than one pooled buffer are left to the other writer", () => {
  assert.equal(headAndBody(200, [], new Uint8Array(32 * 1024), true, 1), undefined);
  assert.equal(
    headAndBody(200, [["x-pad", "p".repeat(32 * 1024)]], new Uint8Array(1), true, 1),
    undefined,
  );
  const fits = headAndBody(200, [], new Uint8Array(16 * 1024), true, 1);
  assert.ok(fits);
  releaseOut(fits);
});

const dec = new TextDecoder();

function answer(bodyBytes: number) {
  const body = new Uint8Array(bodyBytes).fill(0x61);
  const whole = headAndBody(200, [["content-type", "text/plain"]], body, true, 1);
  assert.ok(whole, `an answer with a ${bodyBytes}-byte body fits one buffer`);
  const text = dec.decode(whole.buf.subarray(0, whole.length));
  assert.match(text, new RegExp(`^HTTP/1\\.1 200 OK\\r\\n[^]*content-length: ${bodyBytes}\\r\\n`));
  assert.ok(text.endsWith(`\r\n\r\n${"a".repeat(bodyBytes)}`));
  return whole;
}

Deno.test("a small answer is written from a small buffer, a larger one from a large buffer", () => {
  const small = answer(100);
  const large = answer(10_000);
  assert.ok(small.buf.length < large.buf.length);
  assert.ok(large.buf.length >= 10_000);
  assert.equal(
    headAndBody(200, [], new Uint8Array(large.buf.length), true, 1),
    undefined,
    "an answer larger than the large buffer is not pooled",
  );
  releaseOut(small);
  releaseOut(large);
  // Each buffer serves the next answer of its own size.
  assert.equal(answer(10_000), large);
  assert.equal(answer(50), small);
});

Deno.test("a field whose value changes, comes back or repeats is written with its own value", () => {
  // Lines whose value repeats are copied from bytes kept for them: a changed value must never
  // reuse the previous one's bytes.
  const body = new Uint8Array(0);
  const values = ["1", "1", "22", "1", "\u00e9\u00e9", "\u00e9\u00e9", "333"];
  for (const v of values) {
    const headers: Array<[string, string]> = [["x-score", v], ["content-type", "text/plain"]];
    const out = headAndBody(200, headers, body, true, 1);
    assert.ok(out);
    const text = latin1(out.buf.subarray(0, out.length));
    assert.match(text, new RegExp(`^HTTP/1\\.1 200 OK\\r\\nx-score: ${v}\\r\\ncontent-type: `));
    assert.equal(text.length, out.length);
    releaseOut(out);
  }
});

Deno.test("a pooled answer writes all its bytes, the rest after a partial write, then goes back to its pool", async () => {
  const body = new TextEncoder().encode("x".repeat(300));
  const sent: number[] = [];
  let partial = 0;
  const sink = {
    // The first write takes 7 bytes only: the rest goes through write().
    writeSome: (b: Uint8Array) => {
      partial++;
      sent.push(...b.subarray(0, 7));
      return Promise.resolve(7);
    },
    write: (b: Uint8Array) => {
      sent.push(...b);
      return Promise.resolve();
    },
  };
  const out = headAndBody(200, [["x-a", "1"]], body, false, 1);
  assert.ok(out);
  const expected = [...out.buf.subarray(0, out.length)];
  assert.equal(await out.writeTo(sink, false), false);
  assert.equal(partial, 1);
  assert.deepEqual(sent, expected);
  // Given back: the next answer of its size is written from it.
  const next = headAndBody(200, [["x-a", "1"]], body, true, 1);
  assert.equal(next, out);
  assert.equal(
    await next.writeTo({ ...sink, writeSome: (b) => Promise.resolve(b.length) }, true),
    true,
  );
  // A failed write rejects with its error and gives the buffer back too.
  const failing = headAndBody(200, [], body, true, 1);
  assert.equal(failing, out);
  const broken = new Error("broken pipe");
  await assert.rejects(
    failing.writeTo({ ...sink, writeSome: () => Promise.reject(broken) }, true),
    (e) => e === broken,
  );
  const again = headAndBody(200, [], body, true, 1);
  assert.equal(again, out);
  releaseOut(again!);
});

Deno.test("a pooled answer goes back to its pool once: after a partial write, two answers get two buffers", async () => {
  const body = new TextEncoder().encode("y".repeat(200));
  const sink = {
    writeSome: (b: Uint8Array) => Promise.resolve(Math.min(5, b.length)),
    write: () => Promise.resolve(),
  };
  const failing = {
    writeSome: () => Promise.resolve(5),
    write: () => Promise.reject(new Error("reset")),
  };
  for (const s of [sink, failing]) {
    const out = headAndBody(200, [["x-a", "1"]], body, true, 1);
    assert.ok(out);
    await out.writeTo(s, true).catch(() => {});
    // Given back once: the next two answers of its size are written from two buffers.
    const a = headAndBody(200, [], body, true, 1);
    const b = headAndBody(200, [], body, true, 1);
    assert.ok(a && b);
    assert.notEqual(a, b, "a buffer given back twice would hold two answers at once");
    releaseOut(a);
    releaseOut(b);
  }
});

Deno.test("the Date line gives the second of the clock reading the caller hands over, else the clock's", () => {
  // The connection reads the clock once as it starts an answer (its write deadline); the head
  // is dated with that reading instead of reading the clock again.
  const body = new Uint8Array(2);
  const dateOf = (out: ReturnType<typeof headAndBody>) => {
    assert.ok(out);
    const text = latin1(out.buf.subarray(0, out.length));
    releaseOut(out);
    return /\r\ndate: ([^\r]*)\r\n/.exec(text)?.[1];
  };
  for (let round = 0; round < 2; round++) {
    assert.equal(dateOf(headAndBody(200, [], body, true, 1, 999)), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert.equal(
      dateOf(headAndBody(200, [], body, true, 1, 86_400_000 + 1_500)),
      "Fri, 02 Jan 1970 00:00:01 GMT",
    );
    const before = Math.floor(Date.now() / 1000);
    const now = Date.parse(dateOf(headAndBody(200, [], body, true, 1))!) / 1000;
    assert.ok(now >= before && now <= Math.floor(Date.now() / 1000), "without one: the clock's");
  }
});
