/**
 * A bounded corpus of hostile requests: broken framing (CL+TE, duplicate lengths, bad chunk
 * sizes and extensions, truncated bodies), oversized heads, and bodies that are malformed,
 * mistyped, deeply nested, invalid UTF-8, full of control characters or huge numbers, plus
 * bad path and query values for every GET route.
 * @module
 */

/** One request of the corpus. */
export interface Case {
  name: string;
  /** The bytes on the wire (a string goes one byte per char). */
  wire: string | Uint8Array;
  /** Shut down the sending side after writing (the body then ends early). */
  closeWrite?: boolean;
  /**
   * The status RFC 9112/9110 names for a request refused before any handler runs (a handler
   * decides the rest, which must only be below 500).
   */
  status?: number;
}

const enc = new TextEncoder();

function concat(...parts: Array<string | Uint8Array>): Uint8Array {
  const bytes = parts.map((p) => typeof p === "string" ? latin1(p) : p);
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let off = 0;
  for (const b of bytes) {
    out.set(b, off);
    off += b.length;
  }
  return out;
}

function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** A POST with `body` and a correct Content-Length. */
export function post(path: string, body: string | Uint8Array, headers = ""): Uint8Array {
  const bytes = typeof body === "string" ? enc.encode(body) : body;
  return concat(
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n${headers}`,
    `Content-Length: ${bytes.length}\r\n\r\n`,
    bytes,
  );
}

/** Framing and head attacks, aimed at `path` (they never reach a handler, or break its read). */
export function framingCases(path: string): Case[] {
  const head = `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n`;
  const chunked = `${head}Transfer-Encoding: chunked\r\n\r\n`;
  return [
    {
      name: "CL+TE",
      wire: `${head}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    },
    {
      name: "duplicate CL",
      wire: `${head}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}`,
      status: 400,
    },
    {
      name: "conflicting CL",
      wire: `${head}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x`,
      status: 400,
    },
    { name: "CL list", wire: `${head}Content-Length: 2, 2\r\n\r\n{}`, status: 400 },
    { name: "negative CL", wire: `${head}Content-Length: -1\r\n\r\n{}`, status: 400 },
    {
      name: "huge CL, no body",
      wire: `${head}Content-Length: 99999999999999999999\r\n\r\n{`,
      status: 400,
    },
    {
      name: "TE xchunkedx",
      wire: `${head}Transfer-Encoding: xchunkedx\r\n\r\n0\r\n\r\n`,
      status: 400,
    },
    {
      name: "TE chunked, gzip",
      wire: `${head}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
      status: 400,
    },
    {
      name: "TE gzip, chunked",
      wire: `${head}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
      status: 501,
    },
    { name: "chunk size hex overflow", wire: `${chunked}fffffffffffffffffffff\r\n{}\r\n0\r\n\r\n` },
    { name: "chunk size negative", wire: `${chunked}-2\r\n{}\r\n0\r\n\r\n` },
    { name: "chunk size not hex", wire: `${chunked}zz\r\n{}\r\n0\r\n\r\n` },
    { name: "chunk without CRLF", wire: `${chunked}2\r\n{}XX0\r\n\r\n` },
    { name: "chunk bare LF", wire: `${chunked}2\n{}\n0\n\n` },
    {
      name: "5000-byte chunk extension",
      wire: `${chunked}2;${"e".repeat(5000)}\r\n{}\r\n0\r\n\r\n`,
    },
    { name: "chunk ext with NUL", wire: `${chunked}2;a=\x00\r\n{}\r\n0\r\n\r\n` },
    { name: "huge trailer", wire: `${chunked}2\r\n{}\r\n0\r\nX-T: ${"t".repeat(40_000)}\r\n\r\n` },
    {
      name: "truncated CL body",
      wire: `${head}Content-Length: 100\r\n\r\n{"a"`,
      closeWrite: true,
    },
    { name: "truncated chunked body", wire: `${chunked}10\r\n{"a":`, closeWrite: true },
    { name: "truncated head", wire: `${head}X-Half: yes`, closeWrite: true, status: 400 },
    {
      name: "obs-fold",
      wire: `${head}X-A: a\r\n  folded\r\nContent-Length: 2\r\n\r\n{}`,
      status: 400,
    },
    {
      name: "space before colon",
      wire: `${head}X-A : a\r\nContent-Length: 2\r\n\r\n{}`,
      status: 400,
    },
    {
      name: "header without colon",
      wire: `${head}NoColonHere\r\nContent-Length: 2\r\n\r\n{}`,
      status: 400,
    },
    {
      name: "NUL in a header",
      wire: `${head}X-A: a\x00b\r\nContent-Length: 2\r\n\r\n{}`,
      status: 400,
    },
    {
      name: "bare LF head",
      wire: `POST ${path} HTTP/1.1\nHost: localhost\nContent-Length: 2\n\n{}`,
      status: 400,
    },
    {
      name: "bare CR head",
      wire: `POST ${path} HTTP/1.1\rHost: localhost\r\nContent-Length: 2\r\n\r\n{}`,
    },
    {
      name: "20 KB header",
      wire: `${head}X-Big: ${"b".repeat(20_000)}\r\nContent-Length: 2\r\n\r\n{}`,
    },
    {
      name: "500 headers",
      wire: `${head}${"X-H: v\r\n".repeat(500)}Content-Length: 2\r\n\r\n{}`,
      status: 431,
    },
    {
      name: "20 KB URL",
      wire: `GET /${"u".repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
      status: 414,
    },
    { name: "no Host", wire: `GET / HTTP/1.1\r\n\r\n`, status: 400 },
    { name: "two Hosts", wire: `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, status: 400 },
    { name: "HTTP/2 preface", wire: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 505 },
    {
      name: "TLS hello",
      wire: concat(new Uint8Array([0x16, 0x03, 0x01, 0, 0x40, 1]), "\r\n\r\n"),
      status: 400,
    },
    {
      name: "unknown Expect",
      wire: `${head}Expect: 200-ok\r\nContent-Length: 2\r\n\r\n{}`,
      status: 417,
    },
    { name: "CONNECT", wire: `CONNECT fuzz:443 HTTP/1.1\r\nHost: fuzz:443\r\n\r\n`, status: 501 },
    { name: "TRACE", wire: `TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n`, status: 501 },
    { name: "lowercase method", wire: `get / HTTP/1.1\r\nHost: localhost\r\n\r\n`, status: 501 },
  ];
}

/** Body attacks on a POST route. */
export function bodyCases(path: string): Case[] {
  const deepArray = "[".repeat(20_000) + "]".repeat(20_000);
  const deepObject = '{"a":'.repeat(5_000) + "1" + "}".repeat(5_000);
  const bodies: Array<[string, string | Uint8Array]> = [
    ["empty", ""],
    ["open brace", "{"],
    ["unterminated string", '{"a":"'],
    ["trailing comma", '{"a":1,}'],
    ["not JSON", "hello"],
    ["array", "[1,2,3]"],
    ["string", '"s"'],
    ["number", "42"],
    ["null", "null"],
    ["wrong types", '{"topic":5,"payload":"x","tx_id":[],"event":{},"actor":null,"type":true}'],
    ["nested wrong types", '{"principal":{"id":[]},"action":7,"resource":{"type":null}}'],
    ["deep array", deepArray],
    ["deep object", deepObject],
    ["invalid UTF-8", new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    [
      "overlong UTF-8",
      new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d]),
    ],
    ["raw control chars", '{"a":"\x00\x01\x1f\x7f"}'],
    [
      "lone surrogate",
      '{"a":"\\ud800","principal":{"type":"User","id":"\\udfff"},"topic":"t\\ud800"}',
    ],
    ["escaped control chars", '{"a":"\\u0000\\u001f","topic":"\\u0000"}'],
    ["big integer", '{"a":123456789012345678901234567890,"index":9007199254740993}'],
    ["huge exponent", '{"a":1e400,"b":-1e400}'],
    ["proto key", '{"__proto__":{"x":1},"constructor":{"prototype":{}}}'],
    ["long string", `{"a":"${"x".repeat(200_000)}"}`],
    ["many keys", `{${Array.from({ length: 20_000 }, (_, i) => `"k${i}":1`).join(",")}}`],
    ["over the body limit", `{"a":"${"x".repeat(1_100_000)}"}`],
  ];
  return bodies.map(([name, body]) => ({ name: `body: ${name}`, wire: post(path, body) }));
}

/** Raw JSON texts put in place of one value of a valid body. */
const HOSTILE_VALUES: Array<[string, string]> = [
  ["lone surrogate", '"\\ud800x"'],
  ["NUL and controls", '"a\\u0000b\\u001f"'],
  ["integer beyond 2^53", "9007199254740993"],
  ["huge exponent", "1e400"],
  ["negative", "-1"],
  ["fraction", "0.5"],
  ["empty string", '""'],
  ["long string", `"${"x".repeat(100_000)}"`],
  ["array", "[]"],
  ["object", "{}"],
  ["null", "null"],
  ["boolean", "true"],
  ["deep nesting", "[".repeat(5_000) + "]".repeat(5_000)],
];

/** Every path to a value in `v` (keys of objects, indexes of arrays). */
function leaves(v: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  if (v === null || typeof v !== "object") return [at];
  const entries = Array.isArray(v) ? v.map((x, i) => [i, x] as const) : Object.entries(v);
  return [at, ...entries.flatMap(([k, x]) => leaves(x, [...at, k]))];
}

/**
 * A valid `sample` body with one value at a time replaced by a hostile one (and a
 * `__proto__` key added), so the attack reaches past the schema into the handler.
 */
export function valueCases(path: string, sample: Record<string, unknown>): Case[] {
  const out: Case[] = [];
  const marker = "\u0000HOSTILE\u0000";
  for (const at of leaves(sample).filter((p) => p.length > 0)) {
    for (const [name, raw] of HOSTILE_VALUES) {
      const copy = structuredClone(sample);
      let parent: Record<string | number, unknown> = copy;
      for (const k of at.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
      parent[at[at.length - 1]] = marker;
      const text = JSON.stringify(copy).replace(JSON.stringify(marker), raw);
      out.push({ name: `${at.join(".")}: ${name}`, wire: post(path, text) });
    }
  }
  const proto = JSON.stringify(sample).replace(/^\{/, '{"__proto__":{"admin":true},');
  out.push({ name: "__proto__ key", wire: post(path, proto) });
  return out;
}

/** Path, query and header attacks on a GET route (`path` is a working sample). */
export function getCases(path: string): Case[] {
  const [p, q = ""] = path.split("?");
  const get = (target: string, headers = "") =>
    `GET ${target} HTTP/1.1\r\nHost: localhost\r\n${headers}\r\n`;
  const lastSegment = p.replace(/\/[^/]*$/, "/");
  return [
    { name: "as is", wire: get(path) },
    { name: "HEAD", wire: `HEAD ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n` },
    { name: "NUL in path", wire: get(`${lastSegment}%00`) },
    { name: "invalid percent", wire: get(`${lastSegment}%zz`) },
    { name: "invalid UTF-8 in path", wire: get(`${lastSegment}%c3%28%ff`) },
    { name: "dot segments", wire: get(`${lastSegment}..%2f..%2fetc%2fpasswd`) },
    { name: "long segment", wire: get(`${lastSegment}${"s".repeat(4000)}`) },
    { name: "negative number", wire: get(`${lastSegment}-1`) },
    { name: "huge number", wire: get(`${lastSegment}99999999999999999999999`) },
    {
      name: "bad query values",
      wire: get(`${p}?${q}&index=-1&size=1e99&since=abc&topic=&timeout=-5`),
    },
    { name: "invalid percent in query", wire: get(`${p}?a=%zz&b=%c3%28&${q}`) },
    { name: "repeated query keys", wire: get(`${p}?${"topic=t&".repeat(500)}${q}`) },
    {
      name: "garbage headers",
      wire: get(
        path,
        "Last-Event-ID: \xff\xfe-1:abc\r\nAuthorization: Bearer \xff\r\nAccept: */*\x7f\r\n" +
          "X-Request-Id: ../../x\r\nCookie: a=\xe9\r\n",
      ),
    },
    { name: "POST to a GET route", wire: post(path, "{}") },
    { name: "DELETE", wire: `DELETE ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n` },
  ];
}
