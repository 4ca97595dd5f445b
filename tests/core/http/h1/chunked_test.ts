/**
 * The chunked decoder against RFC 9112 section 7.1: sizes, extensions, CRLFs, trailers, and
 * bytes arriving in pieces.
 * @module
 */
import assert from "node:assert/strict";
import { HttpError } from "../../../../core/errors/mod.ts";
import { ChunkedDecoder } from "../../../../core/http/h1/chunked.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Decodes `wire`, fed `piece` bytes at a time; returns the body and the bytes consumed. */
function decode(wire: string, piece = wire.length, limits = {}): { body: string; used: number } {
  const bytes = enc.encode(wire);
  const d = new ChunkedDecoder(limits);
  let body = "";
  let at = 0;
  let avail = Math.min(piece, bytes.length);
  while (!d.done) {
    const used = d.step(bytes, at, avail);
    if (d.dataLength > 0) {
      body += dec.decode(bytes.subarray(d.dataOffset, d.dataOffset + d.dataLength));
    }
    at += used;
    if (used === 0) {
      if (avail === bytes.length) throw new Error("decoder wants bytes the wire does not have");
      avail = Math.min(bytes.length, avail + piece);
    }
  }
  return { body, used: at };
}

function refused(wire: string, status: number, why: string, limits = {}): void {
  assert.throws(
    () => decode(wire, wire.length, limits),
    (err: unknown) => err instanceof HttpError && err.status === status,
    `${why}: expected ${status}`,
  );
}

Deno.test("chunks, the last chunk and the empty trailer section", () => {
  const wire = "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n";
  assert.deepEqual(decode(wire), { body: "abc0123456789", used: wire.length });
  // Upper-case hex, leading zeros.
  assert.equal(decode("000B\r\nhello world\r\n0\r\n\r\n").body, "hello world");
});

Deno.test("bytes arriving one at a time decode the same", () => {
  const wire = "3;a=b\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
  assert.deepEqual(decode(wire, 1), decode(wire));
  assert.equal(decode(wire, 1).body, "abcde");
});

Deno.test("the decoder stops at the end of the body: what follows is the next request", () => {
  const wire = "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
  assert.equal(decode(wire).used, wire.indexOf("GET"));
});

Deno.test("chunk extensions: tokens and quoted strings are accepted (7.1.1)", () => {
  assert.equal(decode("1;a\r\nx\r\n0\r\n\r\n").body, "x");
  assert.equal(decode('1 ; a = b ; c="d;e\\"f"\r\nx\r\n0\r\n\r\n').body, "x");
  assert.equal(decode("0;last\r\n\r\n").body, "");
  refused("1;\r\nx\r\n0\r\n\r\n", 400, "an empty extension name");
  refused("1;a=\r\nx\r\n0\r\n\r\n", 400, "an empty extension value");
  refused('1;a="b\r\nx\r\n0\r\n\r\n', 400, "an unterminated quoted string");
  refused("1;a b\r\nx\r\n0\r\n\r\n", 400, "two words");
});

Deno.test("a chunk-size line longer than the bound is refused (the 5000-byte extension)", () => {
  refused(`4;${"e".repeat(5000)}\r\nabcd\r\n0\r\n\r\n`, 400, "5000-byte extension", {
    maxLineBytes: 4096,
  });
  assert.equal(decode(`4;${"e".repeat(100)}\r\nabcd\r\n0\r\n\r\n`).body, "abcd");
});

Deno.test("bad chunk sizes: empty, negative, not hex, overflow (7.1)", () => {
  refused("\r\nabc\r\n0\r\n\r\n", 400, "no size");
  refused("-1\r\nx\r\n0\r\n\r\n", 400, "negative");
  refused("g\r\nx\r\n0\r\n\r\n", 400, "not hex");
  refused("0x1\r\nx\r\n0\r\n\r\n", 400, "a 0x prefix");
  refused("fffffffffffffffff\r\nx\r\n0\r\n\r\n", 400, "hex overflow");
  refused(" 1\r\nx\r\n0\r\n\r\n", 400, "leading whitespace");
});

Deno.test("missing or bare line endings are refused", () => {
  refused("3\r\nabcX\r\n0\r\n\r\n", 400, "no CRLF after the chunk data");
  refused("3\r\nabc\n0\r\n\r\n", 400, "bare LF after the chunk data");
  refused("3\nabc\r\n0\r\n\r\n", 400, "bare LF after the size");
  refused("3\r\r\nabc\r\n0\r\n\r\n", 400, "bare CR in the size line");
  refused("0\r\nX-T: 1\n\r\n", 400, "bare LF in a trailer");
});

Deno.test("trailers: field lines are checked and bounded, then dropped (7.1.2)", () => {
  assert.equal(decode("1\r\nx\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n").body, "x");
  refused("0\r\nnot a field\r\n\r\n", 400, "a trailer without a colon");
  refused(`0\r\nX-A: ${"v".repeat(200)}\r\n\r\n`, 431, "trailers over the bound", {
    maxTrailerBytes: 100,
  });
});
