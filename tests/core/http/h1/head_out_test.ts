/**
 * The pooled buffers an answer's head and body are written from in one write: a small one for a
 * small answer, a large one up to its size, none beyond; each reused for its own size only.
 */
import assert from "node:assert/strict";
import { headAndBody, releaseOut } from "../../../../core/http/h1/head_out.ts";

const dec = new TextDecoder();

function answer(bodyBytes: number) {
  const body = new Uint8Array(bodyBytes).fill(0x61);
  const whole = headAndBody(200, [["content-type", "text/plain"]], body, true, 1);
  assert.ok(whole, `an answer with a ${bodyBytes}-byte body fits one buffer`);
  const text = dec.decode(whole.buf.subarray(0, whole.length));
  assert.match(text, new RegExp(`^HTTP/1\\.1 200 OK\\r\\n[^]*content-length: ${bodyBytes}\\r\\n`));
  assert.ok(text.endsWith(`\r\n\r\n${"a".repeat(bodyBytes)}`));
  return whole.buf;
}

Deno.test("a small answer is written from a small buffer, a larger one from a large buffer", () => {
  const small = answer(100);
  const large = answer(10_000);
  assert.ok(small.length < large.length);
  assert.ok(large.length >= 10_000);
  assert.equal(
    headAndBody(200, [], new Uint8Array(large.length), true, 1),
    undefined,
    "an answer larger than the large buffer is not pooled",
  );
  releaseOut(small);
  releaseOut(large);
  // Each buffer serves the next answer of its own size.
  assert.equal(answer(10_000), large);
  assert.equal(answer(50), small);
});
