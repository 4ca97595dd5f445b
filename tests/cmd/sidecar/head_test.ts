import assert from "node:assert/strict";
import { type Head, parseHead, parseHeadBytes } from "../../../cmd/sidecar/upstream.ts";

/** The text parser the byte parser replaced: the reference it must agree with. */
function reference(text: string): Head | string {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
  if (!m) return "malformed status line";
  const head: Head = {
    status: Number(m[2]),
    contentType: null,
    length: undefined,
    chunked: false,
    close: m[1] === "0",
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-type") head.contentType = value;
    else if (name === "content-length") {
      if (!/^\d{1,15}$/.test(value)) return "bad Content-Length";
      head.length = Number(value);
    } else if (name === "transfer-encoding") head.chunked = /chunked/i.test(value);
    else if (name === "connection") {
      head.close = /close/i.test(value) || (head.close && !/keep-alive/i.test(value));
    }
  }
  return head;
}

function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

function actual(text: string): Head | string {
  try {
    return parseHeadBytes(bytes(text));
  } catch (err) {
    return (err as Error).message;
  }
}

const CASES = [
  "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: keep-alive",
  "HTTP/1.0 204 No Content",
  "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0",
  "HTTP/1.1 418\r\ncontent-type:text/plain\r\ntransfer-encoding: gzip, CHUNKED",
  "HTTP/1.1 200 OK\r\n Content-Type \t: \u00a0text/html; charset=\u00e9\u00a0 \r\nCONNECTION: Close",
  "HTTP/1.1 200 OK\r\nContent-Length: 12x",
  "HTTP/1.1 200 OK\r\nContent-Length: ",
  "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456",
  "HTTP/1.1 200 OK\r\nContent-Length: 123456789012345",
  "HTTP/1.1 200 OK\r\n: no name\r\nno colon\r\nX-A: b:c\r\n\r\nContent-Type: late",
  "HTTP/1.1 200 OK\r\nContent-Type: a\r\nContent-Type: b\nContent-Length: 3",
  "HTTP/1.1 20 OK",
  "HTTP/1.2 200 OK",
  "HTTP/1.1 2x0 OK",
  "http/1.1 200 OK",
  "HTTP/1.1 200",
  "HTTP/1.1 200\rOK\r\nconnection: upgrade, close",
  "SMTP ready",
  "",
  "HTTP/1.0 200 OK\r\nconnection: keep-alive-ish\r\ncontent-\u00ccength: 5",
];

Deno.test("the byte head parser agrees with the text parser it replaced", () => {
  for (const text of CASES) assert.deepEqual(actual(text), reference(text), JSON.stringify(text));
  for (const text of CASES) {
    const r = reference(text);
    if (typeof r !== "string") assert.deepEqual(parseHead(text), r);
  }
});

Deno.test("the byte head parser agrees with the text parser on random heads", () => {
  const names = [
    "Content-Type",
    "content-length",
    "Transfer-Encoding",
    "Connection",
    "X-Pad",
    "Ty",
  ];
  const values = ["5", "007", "chunked", "close", "keep-alive", "a/b", " ", "\u00a09", "9\t", ""];
  let seed = 42;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let i = 0; i < 2000; i++) {
    let text = ["HTTP/1.1 200 OK", "HTTP/1.0 301 M", "HTTP/1.1 999"][rnd(3)];
    for (let j = rnd(6); j > 0; j--) {
      let name = names[rnd(names.length)];
      if (rnd(3) === 0) name = name.toUpperCase();
      const sep = [":", ": ", " :", ":\t"][rnd(4)];
      text += `\r\n${rnd(8) === 0 ? " " : ""}${name}${sep}${values[rnd(values.length)]}`;
    }
    assert.deepEqual(actual(text), reference(text), JSON.stringify(text));
  }
});
