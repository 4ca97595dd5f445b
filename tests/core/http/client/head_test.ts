/**
 * The response head parser against RFC 9112 / RFC 9110: every expected value below is written
 * from the RFC rule cited beside it, not from another parser.
 */
import assert from "node:assert/strict";
import { HttpClientError } from "../../../../core/http/client/mod.ts";
import {
  parseResponseHead,
  type ResponseHead,
  ResponseHeadMemo,
} from "../../../../core/http/client/head.ts";
import { viewOf } from "../../../../core/http/wire/mod.ts";

/** Head text as bytes, one byte per character (so \xe9 is the obs-text byte 0xE9). */
function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function head(partial: Partial<ResponseHead>): ResponseHead {
  return {
    status: 200,
    contentType: null,
    length: undefined,
    chunked: false,
    close: false,
    ...partial,
  };
}

const VALID: Array<[string, ResponseHead, string]> = [
  [
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11",
    head({ contentType: "application/json", length: 11 }),
    "RFC 9112 §4 status-line; §6.3 rule 6: Content-Length frames the body",
  ],
  [
    "HTTP/1.0 204 No Content",
    head({ status: 204, close: true }),
    "RFC 9112 §9.3: an HTTP/1.0 response without keep-alive closes the connection",
  ],
  [
    "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0",
    head({ length: 0 }),
    "RFC 9112 §9.3: HTTP/1.0 with the keep-alive option persists; options are case-insensitive",
  ],
  [
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED",
    head({ chunked: true }),
    "RFC 9112 §7: transfer-coding names are case-insensitive",
  ],
  [
    "HTTP/1.1 200 OK\r\ntransfer-encoding: , chunked,",
    head({ chunked: true }),
    "RFC 9110 §5.6.1: empty list elements are ignored",
  ],
  [
    "HTTP/1.1 200 OK\r\nConnection: keep-alive-ish, Close",
    head({ close: true }),
    "RFC 9112 §9.6: the close option ends the connection; options are whole tokens",
  ],
  [
    "HTTP/1.0 200 OK\r\nConnection: keep-alive-ish",
    head({ close: true }),
    "RFC 9112 §9.3: keep-alive-ish is not the keep-alive option",
  ],
  [
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5",
    head({ length: 5 }),
    "RFC 9110 §8.6: identical Content-Length field lines may be taken as one",
  ],
  [
    "HTTP/1.1 200 OK\r\nContent-Length: 5,5 , 5",
    head({ length: 5 }),
    "RFC 9110 §8.6: a list of identical values may be taken as one",
  ],
  [
    "HTTP/1.1 200 OK\r\nContent-Length: 007",
    head({ length: 7 }),
    "RFC 9110 §8.6: Content-Length = 1*DIGIT (leading zeros allowed)",
  ],
  [
    "HTTP/1.1 200 OK\r\nContent-Length:\t 7 \t",
    head({ length: 7 }),
    "RFC 9112 §5.1: OWS (SP / HTAB) around a field value is not part of it",
  ],
  ["HTTP/1.1 404 ", head({ status: 404 }), "RFC 9112 §4: the reason phrase may be empty"],
  [
    "HTTP/1.1 302",
    head({ status: 302 }),
    "RFC 9112 §4 wants SP before an empty reason; its absence is tolerated (clients ignore it)",
  ],
  ["HTTP/1.1 100 Continue", head({ status: 100 }), "RFC 9110 §15: 100 is the lowest status"],
  ["HTTP/1.1 599 x", head({ status: 599 }), "RFC 9110 §15: 599 is the highest status"],
  [
    "HTTP/1.1 200 OK \xe9\t!",
    head({}),
    "RFC 9112 §4: reason-phrase = *( HTAB / SP / VCHAR / obs-text )",
  ],
  [
    "HTTP/1.9 200 OK\r\nContent-Length: 1",
    head({ length: 1 }),
    "RFC 9110 §2.5: a higher minor version is processed as the highest one implemented",
  ],
  [
    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=\xe9\r\nX-Empty:\r\nX-Obs: caf\xe9",
    head({ contentType: "text/html; charset=\xe9" }),
    "RFC 9110 §5.5: field values may be empty and may hold obs-text",
  ],
  [
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10",
    head({ status: 304, length: 10 }),
    "RFC 9110 §8.6: a 304 may carry the Content-Length of the representation",
  ],
];

const INVALID: Array<[string, string]> = [
  ["HTTP/1.1 2000 OK", "RFC 9110 §15: status-code = 3DIGIT"],
  ["HTTP/1.1 99 OK", "RFC 9110 §15: status-code = 3DIGIT"],
  ["HTTP/1.1 099 OK", "RFC 9110 §15: status codes are 100 to 599"],
  ["HTTP/1.1 600 OK", "RFC 9110 §15: status codes are 100 to 599"],
  ["HTTP/1.1 2x0 OK", "RFC 9110 §15: status-code = 3DIGIT"],
  ["HTTP/1.1  200 OK", "RFC 9112 §4: exactly one SP after the version"],
  ["HTTP/1.1 200\rOK", "RFC 9112 §2.2: a bare CR makes the element invalid"],
  ["HTTP/1.1 200 O\x00K", "RFC 9112 §4: no CTL in the reason phrase"],
  ["http/1.1 200 OK", "RFC 9112 §2.3: HTTP-name is case-sensitive"],
  ["HTTP/2.0 200 OK", "RFC 9112 §2.3: only major version 1 is HTTP/1.1 framing"],
  ["HTTP/1 200 OK", "RFC 9112 §2.3: HTTP-version = HTTP-name / DIGIT . DIGIT"],
  ["HTTP/1.10 200 OK", "RFC 9112 §2.3: one digit per version part"],
  [" HTTP/1.1 200 OK", "RFC 9112 §4: nothing before the version"],
  ["SMTP ready", "not an HTTP status line"],
  ["", "no status line"],
  ["HTTP/1.1 200 OK\r\nX-A: b\r\n folded", "RFC 9112 §5.2: a proxy may reject obs-fold"],
  ["HTTP/1.1 200 OK\r\n\tX-A: b", "RFC 9112 §5.2: obs-fold"],
  ["HTTP/1.1 200 OK\r\nContent-Length : 5", "RFC 9112 §5.1: no whitespace before the colon"],
  ["HTTP/1.1 200 OK\r\nno colon", 'RFC 9112 §5: field-line = field-name ":" ...'],
  ["HTTP/1.1 200 OK\r\n: no name", "RFC 9110 §5.1: field-name = token (1*tchar)"],
  ["HTTP/1.1 200 OK\r\nX A: b", "RFC 9110 §5.6.2: SP is not a tchar"],
  ["HTTP/1.1 200 OK\r\nX-A: a\x00b", "RFC 9110 §5.5: NUL in a field value is invalid"],
  ["HTTP/1.1 200 OK\r\nX-A: a\rb", "RFC 9110 §5.5: CR in a field value is invalid"],
  ["HTTP/1.1 200 OK\r\nX-A: a\nb", "RFC 9110 §5.5: LF in a field value is invalid"],
  ["HTTP/1.1 200 OK\r\nX-A: a\x7fb", "RFC 9110 §5.5: field-vchar excludes DEL"],
  ["HTTP/1.1 200 OK\r\n\r\nX-A: b", "RFC 9112 §2.1: the head ends at the first empty line"],
  ["HTTP/1.1 200 OK\r\nContent-Length: 12x", "RFC 9110 §8.6: Content-Length = 1*DIGIT"],
  ["HTTP/1.1 200 OK\r\nContent-Length: ", "RFC 9110 §8.6: Content-Length = 1*DIGIT"],
  ["HTTP/1.1 200 OK\r\nContent-Length: -1", "RFC 9110 §8.6: Content-Length = 1*DIGIT"],
  ["HTTP/1.1 200 OK\r\nContent-Length: +5", "RFC 9110 §8.6: Content-Length = 1*DIGIT"],
  ["HTTP/1.1 200 OK\r\nContent-Length: 0x10", "RFC 9110 §8.6: Content-Length = 1*DIGIT"],
  ["HTTP/1.1 200 OK\r\nContent-Length: 1 2", "RFC 9110 §8.6: Content-Length = 1*DIGIT"],
  [
    "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456",
    "RFC 9110 §8.6: a length beyond what can be represented is an unrecoverable error",
  ],
  ["HTTP/1.1 200 OK\r\nContent-Length: 5, 6", "RFC 9112 §6.3 rule 5: differing lengths"],
  [
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6",
    "RFC 9112 §6.3 rule 5: differing lengths",
  ],
  [
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked",
    "RFC 9112 §6.1/§6.3 rule 3: both framings mean smuggling; handled as an error",
  ],
  [
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5",
    "RFC 9112 §6.3 rule 3: in either order",
  ],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunkedx", "RFC 9112 §6.3 rule 4: chunked is a token"],
  [
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip",
    "RFC 9112 §6.3 rule 4: the final coding is not chunked",
  ],
  [
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip",
    "RFC 9112 §6.3 rule 4: field lines combine; the final coding is gzip",
  ],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked", "RFC 9112 §6.1: chunked only once"],
  [
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked",
    "gzip would reach the caller still encoded: a coding this client cannot remove",
  ],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: identity", "RFC 9112 §7: identity is not a coding"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: ", "RFC 9112 §6.1: 1#transfer-coding"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=1", "a parameter makes it another coding"],
  [
    "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked",
    "RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing",
  ],
];

Deno.test("well-formed heads parse to what RFC 9112 says they mean", () => {
  for (const [text, expected, rule] of VALID) {
    assert.deepEqual(parseResponseHead(bytes(text)), expected, `${rule}: ${JSON.stringify(text)}`);
  }
});

Deno.test("heads RFC 9112 forbids are refused as protocol errors", () => {
  for (const [text, rule] of INVALID) {
    assert.throws(
      () => parseResponseHead(bytes(text)),
      (e) => e instanceof HttpClientError && e.kind === "protocol",
      `${rule}: ${JSON.stringify(text)}`,
    );
  }
});

Deno.test("every status from 100 to 599 parses; the neighbours do not", () => {
  for (let s = 0; s <= 999; s++) {
    const text = `HTTP/1.1 ${String(s).padStart(3, "0")} X`;
    if (s >= 100 && s <= 599) assert.equal(parseResponseHead(bytes(text)).status, s);
    else assert.throws(() => parseResponseHead(bytes(text)), HttpClientError, text);
  }
});

Deno.test("the response head memo parses each new head and answers a repeated one unchanged", () => {
  const memo = new ResponseHeadMemo();
  const good = bytes("HTTP/1.1 200 OK\r\ncontent-type: a/b\r\ncontent-length: 12");
  const first = memo.parse(good);
  assert.deepEqual(first, head({ contentType: "a/b", length: 12 }));
  assert.equal(memo.parse(good.slice()), first, "the same bytes: the same parse");
  // One byte different, same length: parsed anew (and a valid one becomes the remembered one).
  const other = bytes("HTTP/1.1 200 OK\r\ncontent-type: a/c\r\ncontent-length: 12");
  assert.deepEqual(memo.parse(other), head({ contentType: "a/c", length: 12 }));
  assert.deepEqual(memo.parse(good), first);
  // A refused head of the same length is refused every time and never remembered.
  const bad = bytes("HTTP/1.1 200 OK\r\ncontent-type: a/b\r\ncontent-length: 1x");
  for (let i = 0; i < 2; i++) {
    assert.throws(() => memo.parse(bad), (e) => e instanceof HttpClientError, `round ${i}`);
  }
  assert.equal(memo.parse(good), memo.parse(good));
  // A head longer than the memo holds is parsed every time.
  const long = bytes(`HTTP/1.1 204 No Content\r\nx-pad: ${"p".repeat(600)}`);
  assert.deepEqual(memo.parse(long), head({ status: 204 }));
  assert.notEqual(memo.parse(long), memo.parse(long));
  // A head inside a larger buffer (a connection's read buffer) is compared where it lies.
  const buf = new Uint8Array(good.length + 10);
  buf.set(good, 7);
  const again = memo.parse(good);
  assert.equal(memo.parse(buf, 7, 7 + good.length), again, "the same bytes at an offset");
  buf[7 + good.length - 1] = "3".charCodeAt(0);
  assert.deepEqual(memo.parse(buf, 7, 7 + good.length), head({ contentType: "a/b", length: 13 }));
  assert.equal(memo.parse(buf, 7, 7 + good.length - 1).length, 1, "a shorter head, parsed anew");
});

Deno.test("the response head memo finds its head in a buffer only with the empty line right after it", () => {
  const memo = new ResponseHeadMemo();
  const text = "HTTP/1.1 200 OK\r\ncontent-type: a/b\r\ncontent-length: 12";
  const whole = bytes(`${text}\r\n\r\n`);
  assert.equal(memo.repeated(whole, viewOf(whole), 0, whole.length), undefined, "none yet");
  const first = memo.parse(bytes(text));
  const at = (s: string, off = 3) => {
    const b = new Uint8Array(off + s.length + 5);
    b.set(bytes(s), off);
    return memo.repeated(b, viewOf(b), off, off + s.length);
  };
  assert.equal(at(`${text}\r\n\r\n`), first);
  assert.equal(memo.repeatedLength, text.length + 4);
  assert.equal(at(`${text}\r\n\r\nbody`), first, "a body after it");
  assert.equal(at(`${text}\r\n\r`), undefined, "the empty line not all there");
  assert.equal(at(`${text}\r\nx-a: 1\r\n\r\n`), undefined, "a field more");
  assert.equal(at(`${text}3\r\n\r\n`), undefined, "a longer value");
  assert.equal(at(`${text.replace("a/b", "a/c")}\r\n\r\n`), undefined, "one byte different");
  assert.equal(at(`${text.slice(0, 10)}`), undefined, "fewer bytes than the head");
  // Compared four bytes at a time, the last ones alone: a change anywhere, at any offset, misses.
  for (let off = 0; off < 4; off++) {
    assert.equal(at(`${text}\r\n\r\n`, off), first, `offset ${off}`);
    for (let i = 0; i < text.length; i++) {
      const changed = text.slice(0, i) + (text[i] === "x" ? "y" : "x") + text.slice(i + 1);
      assert.equal(at(`${changed}\r\n\r\n`, off), undefined, `offset ${off}, byte ${i}`);
    }
  }
});
