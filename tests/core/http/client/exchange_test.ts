/**
 * The client's exchange chain on pooled connections: answers that arrive in pieces, interim
 * answers before the final one, a pooled connection that stops answering, and request lines
 * checked and written per request whatever the requests before them were.
 */
import assert from "node:assert/strict";
import { HttpClientError } from "../../../../core/http/client/mod.ts";
import {
  type ClientRequest,
  type ClientResponse,
  OriginPool,
} from "../../../../core/http/client/pool.ts";
import { ok, startRawAgent } from "../../../support/raw_agent.ts";

const enc = new TextEncoder();

function post(target = "/", timeoutMs = 5000, method = "POST"): ClientRequest {
  return { method, target, headers: [["x-a", "1"]], body: enc.encode("{}"), timeoutMs };
}

async function text(res: ClientResponse): Promise<string> {
  return res.body === null ? "" : await new Response(res.body).text();
}

function isKind(kind: HttpClientError["kind"]) {
  return (e: unknown) => e instanceof HttpClientError && e.kind === kind;
}

/** `s` cut into pieces of `n` characters. */
function pieces(s: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += n) out.push(s.slice(i, i + n));
  return out;
}

Deno.test("answers written in pieces, interim ones first, are read whole on one pooled connection", async () => {
  const body = "z".repeat(3000);
  const agent = startRawAgent((a) => {
    if (a.n === 0) return ok("first");
    if (a.n === 1) return { pieces: pieces(ok(body), 7) };
    if (a.n === 2) {
      return {
        pieces: [
          "HTTP/1.1 100 Continue\r\n",
          "\r\n",
          "HTTP/1.1 102 Processing\r\n\r\n",
          ok("third"),
        ],
      };
    }
    return { pieces: pieces(ok(`r${a.n}`, "x-b: 2\r\n"), 1) };
  });
  const pool = new OriginPool(agent.origin);
  try {
    assert.equal(await text(await pool.request(post())), "first");
    const second = await pool.request(post());
    assert.equal(second.status, 200);
    assert.equal(await text(second), body);
    assert.equal(await text(await pool.request(post())), "third");
    for (let i = 3; i < 6; i++) assert.equal(await text(await pool.request(post())), `r${i}`);
    assert.equal(agent.connections, 1, "every answer on the one pooled connection");
    assert.equal(agent.arrivals.length, 6);
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("a pooled connection that stops answering times out; the next request gets a new one", async () => {
  const agent = startRawAgent((a) => (a.n === 1 ? "hang" : ok(`r${a.n}`)));
  const pool = new OriginPool(agent.origin);
  try {
    assert.equal(await text(await pool.request(post())), "r0");
    await assert.rejects(pool.request(post("/", 200)), isKind("timeout"));
    assert.equal(await text(await pool.request(post())), "r2");
    assert.equal(agent.connections, 2);
    assert.equal(agent.arrivals.length, 3, "the request that timed out was not sent again");
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("each request line is checked and written as its request says, whatever came before", async () => {
  const agent = startRawAgent((a) => ok(`r${a.n}`));
  const pool = new OriginPool(agent.origin);
  try {
    assert.equal(await text(await pool.request(post("/a"))), "r0");
    await assert.rejects(pool.request(post("/a b")), isKind("protocol"));
    await assert.rejects(pool.request(post("/a", 5000, "PO ST")), isKind("protocol"));
    assert.equal(await text(await pool.request(post("/a"))), "r1");
    assert.equal(await text(await pool.request(post("/a", 5000, "PUT"))), "r2");
    assert.equal(await text(await pool.request(post("/b?c=1"))), "r3");
    await assert.rejects(pool.request(post("/b?c=1\r\nx: y")), isKind("protocol"));
    assert.equal(await text(await pool.request(post("/b?c=1"))), "r4");
    const lines = agent.arrivals.map((a) => a.line);
    assert.deepEqual(lines, [
      "POST /a HTTP/1.1",
      "POST /a HTTP/1.1",
      "PUT /a HTTP/1.1",
      "POST /b?c=1 HTTP/1.1",
      "POST /b?c=1 HTTP/1.1",
    ]);
    for (const a of agent.arrivals) assert.ok(a.headers.includes(`host: ${agent.origin.host}`));
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("the agent's usual head is taken only when its empty line follows: a longer head is read and checked", async () => {
  // The first answer's head is remembered; each later one begins with its bytes and goes on
  // (a field more, a body-like line, an LF without CR, a field split over reads), so only a
  // comparison that also requires the empty line right after them reads it as sent.
  const head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n";
  const answers: Array<string | { pieces: string[] }> = [
    `${head}\r\nr0`,
    `${head}\r\nr1`, // the usual head again
    `${head}transfer-encoding: chunked\r\n\r\n2\r\nr2\r\n0\r\n\r\n`, // both framings: refused
    `${head}\r\nr3`,
    `${head}x-b: 1\nx-c: 2\r\n\r\nr4`, // an LF without its CR: refused
    `${head}\r\nr5`,
    { pieces: [head, "connection: close\r\n\r\nr6"] }, // arrives in two reads; then closes
    `${head}\r\nr7`,
  ];
  const agent = startRawAgent((a) => answers[a.n]);
  const pool = new OriginPool(agent.origin);
  try {
    assert.equal(await text(await pool.request(post())), "r0");
    assert.equal(await text(await pool.request(post())), "r1");
    await assert.rejects(async () => await text(await pool.request(post())), isKind("protocol"));
    assert.equal(await text(await pool.request(post())), "r3");
    await assert.rejects(async () => await text(await pool.request(post())), isKind("protocol"));
    assert.equal(await text(await pool.request(post())), "r5");
    assert.equal(await text(await pool.request(post())), "r6");
    assert.equal(await text(await pool.request(post())), "r7");
    // r0-r1 on one, r3 after the first refusal, r5-r6 after the second, r7 after the close.
    assert.equal(agent.connections, 4);
    assert.equal(agent.arrivals.length, 8, "nothing sent twice");
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("after the read buffer grows, the usual head is compared against the bytes now read, not the old buffer's", async () => {
  // The usual head is remembered; the next answer begins with it but goes on with a field that
  // fills the 4 KiB read buffer (it grows; that head, too long, is not remembered); the old
  // buffer still begins with the usual head. The next answer's head is as long as the usual one
  // and differs (its Content-Length): it must be read as sent, not as the old buffer says.
  const usual = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n";
  const answers = [
    `${usual}\r\nr0`,
    `${usual}x-pad: ${"p".repeat(6000)}\r\n\r\nr1`,
    `${usual.replace("length: 2", "length: 9")}\r\nr2-nine..`,
    `${usual}\r\nr3`,
  ];
  const agent = startRawAgent((a) => answers[a.n]);
  const pool = new OriginPool(agent.origin);
  try {
    for (const want of ["r0", "r1", "r2-nine..", "r3"]) {
      assert.equal(await text(await pool.request(post())), want);
    }
    assert.equal(agent.connections, 1, "one connection throughout");
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("hostile answers that begin with the usual head are refused or read as the search for the head's end reads them, cut anywhere near its end", async () => {
  // What each answer gets is what 2ab6a2a (no usual-head comparison) gave, over every cut.
  const usual = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2";
  const cases: Array<[string, string | RegExp]> = [
    [`${usual.replace("200", "500")}\r\n\r\nok`, "500:ok"],
    [`${usual.replace("length: 2", "length: 9")}\r\n\r\nok-nine..`, "200:ok-nine.."],
    [`${usual}\r\ncontent-length: 3\r\n\r\nabc`, /conflicting Content-Length/],
    [`${usual}\r\ncontent-length: 2\r\n\r\nok`, "200:ok"],
    [`${usual}\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n`, /both Content-Length/],
    [`${usual}\r\n folded\r\n\r\nok`, /obsolete line folding/],
    [`${usual}\r\nx-a: a\rb\r\n\r\nok`, /control character/],
    [`${usual}\r\r\n\r\nok`, /control character/],
    [`${usual}\r\nx-a: a\0b\r\n\r\nok`, /control character/],
    [`${usual}\r\nx-a: 1\nx-b: 2\r\n\r\nok`, /LF without CR/],
    [`${usual}\n\nok`, /LF without CR/],
    [`${usual}\r\n\nok`, /LF without CR/],
    [`HTTP/1.1 100 Continue\r\n\r\n${usual}\r\n\r\nok`, "200:ok"],
  ];
  for (const [answer, want] of cases) {
    const at = answer.indexOf(usual) + usual.length;
    for (const cut of [0, at - 1, at, at + 1, at + 2, at + 3, at + 4]) {
      const second = cut === 0 ? answer : { pieces: [answer.slice(0, cut), answer.slice(cut)] };
      const agent = startRawAgent((a) => a.n === 1 ? second : `${usual}\r\n\r\nr${a.n}`);
      const pool = new OriginPool(agent.origin);
      const what = `${JSON.stringify(answer)} cut at ${cut}`;
      try {
        assert.equal(await text(await pool.request(post())), "r0");
        let got: string;
        try {
          const res = await pool.request(post());
          got = `${res.status}:${await text(res)}`;
        } catch (err) {
          assert.ok(isKind("protocol")(err), what);
          got = (err as Error).message;
        }
        if (typeof want === "string") assert.equal(got, want, what);
        else assert.match(got, want, what);
        assert.equal(await text(await pool.request(post())), "r2", what);
      } finally {
        pool.close();
        agent.close();
      }
    }
  }
});
