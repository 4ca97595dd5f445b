/**
 * The keep-alive pool against a raw-socket agent writing exact bytes: reuse, streaming,
 * interim responses, every framing error (refused, connection closed, never reused), and
 * requests never delivered twice.
 */
import assert from "node:assert/strict";
import { HttpClientError } from "../../../../core/http/client/mod.ts";
import {
  type ClientRequest,
  type ClientResponse,
  OriginPool,
} from "../../../../core/http/client/pool.ts";
import { ok, startRawAgent } from "../../../support/raw_agent.ts";
import { waitFor } from "../../../helpers.ts";

const enc = new TextEncoder();

function post(target = "/", timeoutMs = 5000): ClientRequest {
  return { method: "POST", target, headers: [["x-a", "1"]], body: enc.encode("{}"), timeoutMs };
}

async function text(res: ClientResponse): Promise<string> {
  return res.body === null ? "" : await new Response(res.body).text();
}

function isKind(kind: HttpClientError["kind"]) {
  return (e: unknown) => e instanceof HttpClientError && e.kind === kind;
}

Deno.test("keep-alive: one connection carries many requests, sent byte for byte", async () => {
  const agent = startRawAgent((a) => ok(`r${a.n}`));
  const pool = new OriginPool(agent.origin);
  try {
    for (let i = 0; i < 5; i++) {
      const r = await pool.request(post("/x?y=1"));
      assert.equal(r.status, 200);
      assert.equal(r.contentType, "text/plain");
      assert.equal(await text(r), `r${i}`);
    }
    assert.equal(agent.connections, 1);
    const a = agent.arrivals[0];
    assert.equal(a.line, "POST /x?y=1 HTTP/1.1");
    assert.deepEqual(a.headers, [`host: ${agent.origin.host}`, "content-length: 2", "x-a: 1"]);
    assert.equal(a.body, "{}");
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("a request head on the wire: each body length's digits, every field in order", async () => {
  const agent = startRawAgent((a) => ok(`r${a.n}`));
  const pool = new OriginPool(agent.origin);
  const sizes = [0, 1, 9, 10, 99, 100, 12345];
  try {
    for (const size of sizes) {
      const body = enc.encode("b".repeat(size));
      const headers: Array<[string, string]> = [
        ["content-type", "application/json"],
        ["x-agent-trace-id", `t-${size}`],
      ];
      const r = await pool.request({ method: "PUT", target: "/p", headers, body, timeoutMs: 5000 });
      assert.equal(r.status, 200);
      await text(r);
    }
    assert.equal(agent.connections, 1);
    sizes.forEach((size, i) => {
      const a = agent.arrivals[i];
      assert.equal(a.line, "PUT /p HTTP/1.1");
      assert.deepEqual(a.headers, [
        `host: ${agent.origin.host}`,
        `content-length: ${size}`,
        "content-type: application/json",
        `x-agent-trace-id: t-${size}`,
      ]);
      assert.equal(a.body, "b".repeat(size));
    });
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("chunked, large, interim and close-delimited bodies arrive intact", async () => {
  const big = "y".repeat(600_000);
  const agent = startRawAgent((a) => {
    switch (a.n) {
      case 0:
        return "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n" +
          "5;ext=1\r\nhello\r\n6 ; e\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n";
      case 1:
        return ok(big);
      case 2:
        return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" +
          ok("after-interim");
      case 3:
        return "HTTP/1.1 204 No Content\r\n\r\n";
      default:
        return { bytes: "HTTP/1.1 200 OK\r\n\r\nuntil-eof", close: true };
    }
  });
  const pool = new OriginPool(agent.origin);
  try {
    const a = await pool.request(post());
    assert.equal(a.status, 201);
    assert.equal(await text(a), "hello world");
    const b = await pool.request(post());
    assert.ok(b.body instanceof ReadableStream, "a large body streams");
    assert.equal((await text(b)).length, big.length);
    const c = await pool.request(post());
    assert.equal(c.status, 200);
    assert.equal(await text(c), "after-interim");
    const d = await pool.request(post());
    assert.equal(d.status, 204);
    assert.equal(d.body, null);
    assert.equal(agent.connections, 1, "all on one keep-alive connection");
    const e = await pool.request(post());
    assert.equal(await text(e), "until-eof", "no length: the body ends when the agent closes");
  } finally {
    pool.close();
    agent.close();
  }
});

/** Responses whose framing RFC 9112 forbids or leaves ambiguous. */
const BAD_RESPONSES: Array<[string, string]> = [
  [
    "CL and TE",
    "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
  ],
  ["conflicting CL", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc"],
  ["invalid CL", "HTTP/1.1 200 OK\r\ncontent-length: 2a\r\n\r\nab"],
  ["xchunkedx", "HTTP/1.1 200 OK\r\ntransfer-encoding: xchunkedx\r\n\r\n0\r\n\r\n"],
  ["chunked not final", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n0\r\n\r\n"],
  ["status 2000", "HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n"],
  ["status 99", "HTTP/1.1 99 OK\r\ncontent-length: 0\r\n\r\n"],
  ["status 600", "HTTP/1.1 600 OK\r\ncontent-length: 0\r\n\r\n"],
  ["status 2x0", "HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n"],
  ["101 to a POST", "HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n"],
  ["obs-fold", "HTTP/1.1 200 OK\r\nx-a: 1\r\n 2\r\ncontent-length: 0\r\n\r\n"],
  [
    "bad chunk size",
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5 junk\r\nhello\r\n0\r\n\r\n",
  ],
  [
    "chunk without CRLF",
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n",
  ],
  ["bad trailer", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n"],
  // A head whose lines end in LF alone never ends in CRLF CRLF: refused at its first bare LF,
  // not waited on until the deadline.
  ["LF line ends", "HTTP/1.1 200 OK\ncontent-length: 2\n\nhi"],
  ["bare LF in a field", "HTTP/1.1 200 OK\r\nx-a: 1\nx-b: 2\r\ncontent-length: 0\r\n\r\n"],
];

Deno.test("every framing error is a protocol error, and the connection is never reused", async () => {
  for (const [name, bad] of BAD_RESPONSES) {
    const agent = startRawAgent((a) => (a.n === 1 ? bad : ok(`r${a.n}`)));
    const pool = new OriginPool(agent.origin);
    try {
      assert.equal(await text(await pool.request(post())), "r0", name);
      await assert.rejects(
        async () => await text(await pool.request(post())),
        isKind("protocol"),
        name,
      );
      assert.equal(await text(await pool.request(post())), "r2", name);
      assert.equal(agent.connections, 2, `${name}: a new connection after the bad response`);
      assert.equal(agent.arrivals.length, 3, `${name}: nothing sent twice`);
    } finally {
      pool.close();
      agent.close();
    }
  }
});

Deno.test("a parked connection the agent closed is never written to", async () => {
  // The agent drops every connection right after answering (without Connection: close).
  const agent = startRawAgent((a) => ({ bytes: ok(`r${a.n}`), close: true }));
  const pool = new OriginPool(agent.origin);
  try {
    const calls = 5;
    for (let i = 0; i < calls; i++) {
      assert.equal(await text(await pool.request(post())), `r${i}`);
      await waitFor(() => pool.idleConnections === 0, 5_000, "the pool notices the close");
    }
    assert.equal(agent.arrivals.length, calls);
    assert.equal(agent.connections, calls, "each call on a fresh connection");
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("a POST is never delivered twice: back-to-back calls to a closing agent", async () => {
  // Whether the close is seen before the next write depends on timing; either way a call is
  // answered once or fails, and never arrives twice.
  const agent = startRawAgent((a) => ({ bytes: ok(`r${a.n}`), close: true }));
  const pool = new OriginPool(agent.origin);
  try {
    const calls = 20;
    let answered = 0;
    for (let i = 0; i < calls; i++) {
      try {
        await text(await pool.request(post()));
        answered++;
      } catch (err) {
        assert.ok(err instanceof HttpClientError && err.kind === "connect", String(err));
      }
    }
    assert.equal(agent.arrivals.length, answered, "every arrival was answered, none twice");
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("a POST is never delivered twice: agent reads a request, then drops the connection", async () => {
  // Before: the pool re-sent it on a fresh connection (2 calls, 3 arrivals).
  const agent = startRawAgent((a) => (a.n === 1 ? "close" : ok(`r${a.n}`)));
  const pool = new OriginPool(agent.origin);
  try {
    assert.equal(await text(await pool.request(post())), "r0");
    await assert.rejects(pool.request(post()), isKind("connect"));
    assert.equal(agent.arrivals.length, 2, "two calls, two arrivals");
    assert.equal(await text(await pool.request(post())), "r2", "the pool recovers");
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("timeouts, refused connections and oversized heads become typed errors", async () => {
  const hang = startRawAgent(() => "hang");
  const huge = startRawAgent(() => "HTTP/1.1 200 OK\r\n" + "x-pad: y\r\n".repeat(10_000));
  const pool = new OriginPool(hang.origin);
  const refused = new OriginPool(new URL("http://127.0.0.1:9"));
  const h = new OriginPool(huge.origin);
  try {
    await assert.rejects(pool.request(post("/", 200)), isKind("timeout"));
    await assert.rejects(refused.request(post("/", 2000)), isKind("connect"));
    await assert.rejects(h.request(post()), /too large/);
  } finally {
    pool.close();
    refused.close();
    h.close();
    hang.close();
    huge.close();
  }
});

Deno.test("a request that could split the head is refused before anything is sent", async () => {
  const agent = startRawAgent((a) => ok(`r${a.n}`));
  const pool = new OriginPool(agent.origin);
  try {
    const bad: ClientRequest[] = [
      { ...post(), target: "/a b" },
      { ...post(), target: "/a\r\nx: y" },
      { ...post(), target: "a" },
      { ...post(), headers: [["x-a", "1\r\nx-b: 2"]] },
      // A field name is a token: one with CR LF, a space, a colon or nothing would split or
      // bend the head as a value would.
      { ...post(), headers: [["x-a: 1\r\nx-b", "2"]] },
      { ...post(), headers: [["x a", "1"]] },
      { ...post(), headers: [["x-a:", "1"]] },
      { ...post(), headers: [["", "1"]] },
      { ...post(), headers: [["x-\u00e9", "1"]] },
      { ...post(), method: "CONNECT" },
      { ...post(), method: "PO ST" },
    ];
    for (const req of bad) await assert.rejects(pool.request(req), isKind("protocol"));
    assert.equal(agent.arrivals.length, 0);
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("a field value or target may hold HTAB and any byte but a CTL or DEL: each other char is refused before anything is sent", async () => {
  const agent = startRawAgent((a) => ok(`r${a.n}`));
  const pool = new OriginPool(agent.origin);
  const char = (c: number) => String.fromCharCode(c);
  try {
    const good = [0x09, 0x20, 0x21, 0x7e, 0x80, 0x9f, 0xa0, 0xff];
    // Short and long values alike, one char alone or among others.
    for (const c of good) {
      for (const v of [char(c), `a${char(c)}`, `${"v".repeat(40)}${char(c)}${"w".repeat(40)}`]) {
        const r = await pool.request({ ...post(), headers: [["x-a", v]] });
        assert.equal(r.status, 200, `char ${c}`);
        await text(r);
      }
    }
    const refused = [0x7f, 0x100, 0x2028, 0xd800, 0xfeff, 0xffff];
    for (let c = 0; c < 0x20; c++) if (c !== 0x09) refused.push(c);
    const before = agent.arrivals.length;
    for (const c of refused) {
      for (const v of [char(c), `a${char(c)}`, `${"v".repeat(40)}${char(c)}${"w".repeat(40)}`]) {
        await assert.rejects(
          pool.request({ ...post(), headers: [["x-a", v]] }),
          isKind("protocol"),
          `char ${c} in a value`,
        );
        await assert.rejects(
          pool.request({ ...post(), target: `/${v}` }),
          isKind("protocol"),
          `char ${c} in a target`,
        );
      }
    }
    assert.equal(agent.arrivals.length, before);
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("a body larger than one socket write and a head larger than the read buffer arrive whole", async () => {
  // 6 MiB is more than a loopback socket takes in one write; a 40 KB head is more than the
  // client's first read buffer (16 KiB), so it is found across several reads.
  const body = new Uint8Array(6 << 20);
  for (let i = 0; i < body.length; i++) body[i] = 97 + (i % 26);
  const fields = Array.from({ length: 800 }, (_, i) => `x-f${i}: ${"v".repeat(40)}\r\n`).join("");
  const agent = startRawAgent((a) => a.n === 0 ? ok(`len=${a.body.length}`) : ok("next", fields));
  const pool = new OriginPool(agent.origin);
  try {
    const req: ClientRequest = {
      method: "POST",
      target: "/",
      headers: [],
      body,
      timeoutMs: 30_000,
    };
    const r = await pool.request(req);
    assert.equal(await text(r), `len=${body.length}`);
    assert.equal(agent.arrivals[0].body, new TextDecoder().decode(body));
    const big = await pool.request(post());
    assert.equal(big.status, 200);
    assert.equal(await text(big), "next");
    const again = await pool.request(post());
    assert.equal(await text(again), "next");
    assert.equal(agent.connections, 1, "the connection stays usable after each");
    assert.equal(agent.arrivals.length, 3);
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("small bodies each keep their own bytes; heads that vary are each read as sent", async () => {
  // 300 bodies, kept until the end, each must still hold its own bytes; every third answer has
  // another content type and length (so the remembered head does not fit it).
  const bodyOf = (n: number) => String(n % 10).repeat(n % 3 === 0 ? 499 : 500);
  const type = (n: number) => n % 3 === 0 ? "application/json" : "text/plain";
  const agent = startRawAgent((a) => ok(bodyOf(a.n)).replace("text/plain", type(a.n)));
  const pool = new OriginPool(agent.origin);
  try {
    const kept: Array<[number, ClientResponse]> = [];
    for (let i = 0; i < 300; i++) {
      const r = await pool.request(post());
      assert.equal(r.contentType, type(i), `${i}`);
      kept.push([i, r]);
    }
    for (const [i, r] of kept) {
      assert.ok(r.body instanceof Uint8Array, `${i}`);
      assert.equal(new TextDecoder().decode(r.body), bodyOf(i), `${i}`);
    }
    assert.equal(agent.connections, 1);
  } finally {
    pool.close();
    agent.close();
  }
});

Deno.test("a request head's fields are one byte per character, a value repeated or changed alike", async () => {
  // The head is written as bytes where it goes, a field line whose value repeats from bytes kept
  // for it: each head must still be the exact ISO-8859-1 bytes of its own fields.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  const served = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(64 * 1024);
    let seen = "";
    for (;;) {
      const n = await conn.read(buf.subarray(0));
      if (n === null) break;
      seen += String.fromCharCode(...buf.subarray(0, n));
      let end;
      while ((end = seen.indexOf("\r\n\r\n")) >= 0) {
        const head = seen.slice(0, end + 4);
        const length = Number(/content-length: (\d+)/.exec(head)?.[1] ?? 0);
        if (seen.length < end + 4 + length) break;
        heads.push(head);
        seen = seen.slice(end + 4 + length);
        await conn.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
      }
    }
    conn.close();
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  const pool = new OriginPool(new URL(`http://127.0.0.1:${port}`));
  // Long values as short ones: one beyond ASCII goes out one byte per char, never as UTF-8.
  const long = "caf\u00e9 au lait, s'il vous pla\u00eet";
  const values = [
    "caf\u00e9",
    "caf\u00e9",
    "b",
    "caf\u00e9",
    "\u00ff\u00ff",
    "b",
    long,
    long,
    "\u00ff".repeat(20),
  ];
  try {
    for (const [i, v] of values.entries()) {
      const headers: Array<[string, string]> = [["x-v", v], ["x-n", String(i % 2)]];
      const r = await pool.request({
        method: "POST",
        target: "/h",
        headers,
        body: enc.encode("x".repeat(i)),
        timeoutMs: 5000,
      });
      assert.equal(r.status, 200);
    }
  } finally {
    pool.close();
    await served;
    listener.close();
  }
  assert.deepEqual(
    heads,
    values.map((v, i) =>
      `POST /h HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-length: ${i}\r\n` +
      `x-v: ${v}\r\nx-n: ${i % 2}\r\n\r\n`
    ),
  );
});
