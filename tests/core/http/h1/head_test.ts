/**
 * The request-head parser against RFC 9112: each expected status is the one the RFC names
 * for the case (section cited), not what the parser happens to do.
 * @module
 */
import assert from "node:assert/strict";
import { Session } from "node:inspector";
import { HttpError } from "../../../../core/errors/mod.ts";
import { HeadMemo, parseRequestHead } from "../../../../core/http/h1/head.ts";
import { checkHeaderPairs } from "../../../../core/http/h1/response.ts";

const LIMITS = { maxUrlBytes: 64, maxHeaderFields: 8 };

function parse(head: string) {
  return parseRequestHead(head, LIMITS);
}

function refused(head: string, status: number, why: string): void {
  assert.throws(
    () => parse(head),
    (err: unknown) => err instanceof HttpError && err.status === status,
    `${why}: expected ${status} for ${JSON.stringify(head)}`,
  );
}

Deno.test("a plain HTTP/1.1 request: method, target, fields, keep-alive by default", () => {
  const h = parse("GET /a?b=1 HTTP/1.1\r\nHost: example.com:80\r\nX-A:  v  \r\n\r\n");
  assert.equal(h.method, "GET");
  assert.equal(h.target, "/a?b=1");
  assert.equal(h.minor, 1);
  assert.equal(h.host, "example.com:80");
  assert.deepEqual(h.headers, [["host", "example.com:80"], ["x-a", "v"]]); // OWS trimmed (5.1)
  assert.equal(h.contentLength, 0);
  assert.equal(h.keepAlive, true); // 9.3: persistent unless "close"
  assert.equal(h.expectContinue, false);
});

Deno.test("leading empty lines before the request line are ignored (2.2)", () => {
  assert.equal(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").method, "GET");
});

Deno.test("HTTP/1.0: no Host needed, closes unless keep-alive is asked for (9.3)", () => {
  const h = parse("GET / HTTP/1.0\r\n\r\n");
  assert.equal(h.minor, 0);
  assert.equal(h.keepAlive, false);
  assert.equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive, true);
  assert.equal(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: x, close\r\n\r\n").keepAlive, false);
});

Deno.test("HTTP versions: 1.x is 1.1-compatible; other majors are 505; garbage is 400 (2.3)", () => {
  assert.equal(parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n").minor, 1);
  refused("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "major version 2");
  refused("GET / HTTP/1.1.1\r\nHost: a\r\n\r\n", 400, "malformed version");
  refused("GET / http/1.1\r\nHost: a\r\n\r\n", 400, "the HTTP-name is case-sensitive");
  refused("GET /\r\nHost: a\r\n\r\n", 400, "no version (HTTP/0.9)");
});

Deno.test("request line: single spaces, token method, visible-ASCII target (3)", () => {
  refused("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "two spaces");
  refused("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "trailing space");
  refused("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "method is not a token");
  refused("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "whitespace in the target");
  refused("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "control in the target");
  refused("GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "raw non-ASCII in the target");
  refused("GET a HTTP/1.1\r\nHost: a\r\n\r\n", 400, "neither origin- nor absolute-form");
  refused("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "asterisk-form is for OPTIONS only (3.2.4)");
  assert.equal(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").target, "*");
  assert.equal(parse("GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n").target, "http://a/b");
});

Deno.test("an absolute-form target with userinfo is refused (RFC 9110 4.2.4)", () => {
  refused("GET http://u:pw@a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "user and password");
  refused("GET http://a@evil/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "a host that reads as two");
  refused("GET HTTPS://@a HTTP/1.1\r\nHost: a\r\n\r\n", 400, "empty userinfo");
  assert.equal(parse("GET http://a/b@c HTTP/1.1\r\nHost: a\r\n\r\n").target, "http://a/b@c");
  assert.equal(parse("GET http://a?x=@ HTTP/1.1\r\nHost: a\r\n\r\n").target, "http://a?x=@");
  assert.equal(parse("GET /u@a HTTP/1.1\r\nHost: a\r\n\r\n").target, "/u@a");
});

Deno.test("a long request-target is 414 (3; RFC 9110 15.5.15)", () => {
  assert.equal(parse(`GET /${"a".repeat(63)} HTTP/1.1\r\nHost: a\r\n\r\n`).target.length, 64);
  refused(`GET /${"a".repeat(64)} HTTP/1.1\r\nHost: a\r\n\r\n`, 414, "65-byte target over 64");
});

Deno.test("methods a fetch Request cannot carry are 501 (RFC 9110 15.6.2)", () => {
  refused("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501, "CONNECT");
  refused("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 501, "TRACE");
  refused("get / HTTP/1.1\r\nHost: a\r\n\r\n", 501, "methods are case-sensitive (9.1)");
  assert.equal(parse("PURGE / HTTP/1.1\r\nHost: a\r\n\r\n").method, "PURGE");
  assert.equal(parse("frob / HTTP/1.1\r\nHost: a\r\n\r\n").method, "frob");
});

Deno.test("CRLF only: bare LF or bare CR in the head is refused (2.2)", () => {
  refused("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare LF after the request line");
  refused("GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare LF after a field");
  refused("GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF as the empty line");
  refused("GET / HTTP/1.1\r\nX-A: a\rb\r\nHost: a\r\n\r\n", 400, "bare CR in a value");
  refused("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET", 400, "bytes after the head");
});

Deno.test("field lines: obs-fold, space before colon, no colon, bad names and values (5)", () => {
  refused("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n", 400, "obs-fold (5.2)");
  refused("GET / HTTP/1.1\r\nHost: a\r\n X-A: a\r\n\r\n", 400, "leading whitespace (2.2)");
  refused("GET / HTTP/1.1\r\nHost: a\r\nX-A : a\r\n\r\n", 400, "space before the colon (5.1)");
  refused("GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n", 400, "no colon");
  refused("GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n", 400, "empty name");
  refused("GET / HTTP/1.1\r\nHost: a\r\nX(A): a\r\n\r\n", 400, "name is not a token");
  refused("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", 400, "NUL in a value");
  refused("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x1bb\r\n\r\n", 400, "ESC in a value");
  // obs-text and HTAB are field-content (RFC 9110 5.5).
  assert.equal(
    parse("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\tb\xe9\r\n\r\n").headers[1][1],
    "a\tb\xe9",
  );
});

Deno.test("too many header fields is 431 (RFC 6585 5)", () => {
  const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join("");
  assert.equal(parse(`GET / HTTP/1.1\r\nHost: a\r\n${fields(7)}\r\n`).headers.length, 8);
  refused(`GET / HTTP/1.1\r\nHost: a\r\n${fields(8)}\r\n`, 431, "nine fields over eight");
});

Deno.test("Host: required once in HTTP/1.1, with a valid value (3.2)", () => {
  refused("GET / HTTP/1.1\r\n\r\n", 400, "missing Host");
  refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "two Host lines");
  refused("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "space in Host");
  refused("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "slash in Host");
  assert.equal(parse("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").host, "[::1]:8080");
  assert.equal(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n").host, ""); // empty authority
});

Deno.test("Content-Length: digits only, once (6.3, 8.6)", () => {
  assert.equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n").contentLength, 42);
  refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "negative");
  refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n", 400, "not digits");
  refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400, "hex");
  refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400, "empty");
  refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400, "a list");
  refused(
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
    400,
    "beyond what can be represented",
  );
  refused(
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
    400,
    "conflicting lengths",
  );
  refused(
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
    400,
    "duplicate lengths (a recipient MAY reject them)",
  );
});

Deno.test("Transfer-Encoding: chunked last, once; unknown codings 501; with CL 400 (6.1, 6.3)", () => {
  const te = (v: string) => `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${v}\r\n\r\n`;
  assert.equal(parse(te("chunked")).contentLength, -1);
  assert.equal(parse(te("Chunked")).contentLength, -1); // codings are case-insensitive
  refused(te("xchunkedx"), 400, "chunked is not the final coding");
  refused(te("chunked, gzip"), 400, "chunked is not the final coding");
  refused(te("gzip"), 400, "chunked is not the final coding");
  refused(te("chunked, chunked"), 400, "chunked applied twice (7)");
  refused(te("gzip, chunked"), 501, "a coding the server does not understand");
  refused(
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
    501,
    "two lines form one list: gzip, chunked",
  );
  refused(
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
    400,
    "both Content-Length and Transfer-Encoding (6.1: smuggling)",
  );
  refused(
    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    400,
    "Transfer-Encoding in HTTP/1.0 means faulty framing (6.1)",
  );
});

Deno.test("Expect: 100-continue only, and only honoured in HTTP/1.1 (RFC 9110 10.1.1)", () => {
  const h = parse(
    "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
  );
  assert.equal(h.expectContinue, true);
  refused("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417, "unknown expectation");
  assert.equal(parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expectContinue, false);
});

Deno.test("the head memo answers only for the very bytes it holds, once their parse is kept", () => {
  const enc = new TextEncoder();
  const limits = { maxUrlBytes: 8192, maxHeaderFields: 100 };
  const a = enc.encode("xxPOST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody");
  const end = a.length - 4;
  const memo = new HeadMemo();
  assert.equal(memo.repeated(a, 2, end), undefined);
  memo.hold(a, 2, end);
  assert.equal(memo.repeated(a, 2, end), undefined, "held but not parsed yet");
  const head = memo.keep(parseRequestHead(new TextDecoder().decode(a.subarray(2, end)), limits));
  // The same bytes elsewhere in another buffer.
  const b = new Uint8Array(a.length + 5);
  b.set(a, 5);
  assert.equal(memo.repeated(b, 7, end + 5), head);
  for (const [at, byte] of [[2, 0x51], [end - 1, 0x0b], [12, 0x62]]) {
    const c = a.slice();
    c[at] = byte;
    assert.equal(memo.repeated(c, 2, end), undefined, `byte ${at}`);
  }
  // Compared four bytes at a time, the last ones alone: a change at any byte, at any offset of
  // the head in its buffer, misses (and the buffer compared against may change between calls).
  for (let off = 0; off < 4; off++) {
    const d = new Uint8Array(a.length + off);
    d.set(a.subarray(2), off);
    assert.equal(memo.repeated(d, off, off + end - 2), head, `offset ${off}`);
    for (let i = 0; i < end - 2; i++) {
      const c = d.slice();
      c[off + i] ^= 0x20;
      assert.equal(memo.repeated(c, off, off + end - 2), undefined, `offset ${off}, byte ${i}`);
    }
  }
  assert.equal(memo.repeated(a, 2, end - 1), undefined, "not all of it buffered yet");
  // What follows the head (its body, the next request) does not matter: the head ends there.
  assert.equal(memo.repeated(a, 2, a.length), head);
  assert.equal(memo.length, end - 2);
  // Holding other bytes forgets the head; a head over the bound is never remembered.
  memo.hold(b, 0, 10);
  assert.equal(memo.repeated(a, 2, end), undefined);
  const long = enc.encode(`GET / HTTP/1.1\r\nHost: h\r\nX-P: ${"p".repeat(1100)}\r\n\r\n`);
  memo.hold(long, 0, long.length);
  memo.keep(parseRequestHead(new TextDecoder().decode(long), limits));
  assert.equal(memo.repeated(long, 0, long.length), undefined);
});

Deno.test("response field pairs: names are tokens and values single-line bytes, every time", () => {
  const bad = (pairs: Array<[string, string]>) =>
    assert.throws(() => checkHeaderPairs(pairs), TypeError, JSON.stringify(pairs));
  checkHeaderPairs([["x-a", "1"], ["Content-Type", "text/plain; a=b"]]);
  for (let round = 0; round < 2; round++) {
    bad([["x a", "1"]]);
    bad([["x-a:", "1"]]);
    bad([["", "1"]]);
    bad([["x-a", "1\r\nx-b: 2"]]);
    bad([["x-a", "1\n"]]);
    bad([["x-a", "\0"]]);
    bad([["x-a", "\u0100"]]);
  }
  // More names than the checker remembers, then the bad ones again.
  for (let i = 0; i < 600; i++) checkHeaderPairs([[`x-n${i}`, "v"]]);
  bad([["x a", "1"]]);
  bad([["x-n1", "a\rb"]]);
});

Deno.test("response field values: every char up to U+00FF but CR, LF and NUL is taken, anything beyond refused", () => {
  const chars = Array.from({ length: 0x400 }, (_, c) => c);
  chars.push(0x2028, 0xd800, 0xdfff, 0xfeff, 0xffff);
  for (const c of chars) {
    const ch = String.fromCharCode(c);
    const bad = c === 0 || c === 10 || c === 13 || c > 0xff;
    for (const v of [ch, `a${ch}`, `${"v".repeat(40)}${ch}`]) {
      if (bad) assert.throws(() => checkHeaderPairs([["x-a", v]]), TypeError, `char ${c}`);
      else checkHeaderPairs([["x-a", v]]);
    }
  }
});

Deno.test("the head memo keeps no read buffer alive: one it compared a head against is collected once let go", async () => {
  // A connection's read buffer is replaced as it grows (and let go while a body streams): the
  // memo must not keep the old one, with the bytes of the requests read into it, alive.
  const enc = new TextEncoder();
  const text = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n";
  const memo = new HeadMemo();
  const first = enc.encode(text);
  memo.hold(first, 0, first.length);
  const head = memo.keep(parseRequestHead(text, { maxUrlBytes: 8192, maxHeaderFields: 100 }));
  let buf: Uint8Array | undefined = new Uint8Array(4096);
  buf.set(first);
  assert.equal(memo.repeated(buf, 0, buf.length), head);
  const ref = new WeakRef(buf);
  buf = undefined;
  await new Promise((r) => setTimeout(r, 0)); // a WeakRef holds its target to the end of the job
  await collectGarbage();
  assert.equal(ref.deref(), undefined, "the memo kept the read buffer alive");
  assert.equal(memo.length, first.length, "the memo itself is still in use");
});

/** A full collection, through the inspector (no --expose-gc needed). */
async function collectGarbage(): Promise<void> {
  const session = new Session();
  session.connect();
  const alive = setInterval(() => {}, 50);
  try {
    await new Promise<void>((resolve, reject) =>
      session.post("HeapProfiler.collectGarbage", {}, (err) => err ? reject(err) : resolve())
    );
  } finally {
    clearInterval(alive);
    session.disconnect();
  }
}
