/**
 * What a NATS server can make a service hold (core/nats/guard.ts): the framing checks on their
 * own, then a relay whose link to a real nats-server turns hostile (a protocol line that never
 * ends, garbage) through a proxy: the connection is closed, /health is degraded, the process
 * stays responsive, and it connects again and serves once the link is sound.
 * @module
 */
import assert from "node:assert/strict";
import { NATS_MAX_MESSAGE_BYTES, ProtocolGuard } from "../../../core/nats/guard.ts";
import { connectNats, natsSettings } from "../../../core/nats/mod.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { natsMissing, startNats } from "../../support/nats.ts";
import { freePort, startIatpService, waitFor } from "../../helpers.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("ProtocolGuard follows lines and messages, and refuses what breaks a bound", () => {
  const g = new ProtocolGuard(4096);
  // A message's payload may hold anything, CRLF included, and may come in pieces.
  assert.equal(
    g.check(enc('INFO {"max_payload":1048576}\r\nPING\r\nMSG a.b 1 _INBOX.x 6\r\n')),
    undefined,
  );
  assert.equal(g.check(enc("x\r\ny")), undefined);
  assert.equal(
    g.check(enc("zw\r\nHMSG a 2 12 16\r\nNATS/1.0\r\n\r\nabcd\r\n+OK\r\npong\r\n")),
    undefined,
  );
  assert.equal(g.check(enc("-ERR 'Permissions Violation'\r\n")), undefined);
  // A line over the bound, even in pieces, before its end arrives.
  const long = new ProtocolGuard(4096);
  assert.equal(long.check(enc("MSG a 1 ")), undefined);
  assert.match(
    long.check(new Uint8Array(4096).fill(120)) ?? "",
    /longer than 4096 bytes \(nats\.max_control_line\)/,
  );
  assert.match(
    new ProtocolGuard(4096).check(enc(`MSG a 1 ${NATS_MAX_MESSAGE_BYTES + 1}\r\n`)) ?? "",
    /a message of/,
  );
  assert.match(new ProtocolGuard(4096).check(enc("MSG a 1 ten\r\n")) ?? "", /without its size/);
  assert.match(
    new ProtocolGuard(4096).check(enc("\u0000\u00ff garbage\r\n")) ?? "",
    /not NATS protocol/,
  );
  // The reason never quotes the server's bytes.
  assert.doesNotMatch(new ProtocolGuard(4096).check(enc("s3cret-ish\r\n")) ?? "", /s3cret/);
});

/**
 * The guard as it first read each line (decoded as latin1, split with a regular expression, the
 * size tested by one): the reference the byte-reading guard must agree with, chunk by chunk.
 */
class ReferenceGuard {
  #line: Uint8Array[] = [];
  #lineBytes = 0;
  #message = 0;
  static #ops = new Set(["MSG", "HMSG", "INFO", "PING", "PONG", "+OK", "-ERR"]);
  static #latin1 = new TextDecoder("latin1");

  constructor(readonly maxLine: number) {}

  check(chunk: Uint8Array): string | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.#message > 0) {
        const n = Math.min(this.#message, chunk.length - i);
        this.#message -= n;
        i += n;
        continue;
      }
      const nl = chunk.indexOf(10, i);
      const end = nl < 0 ? chunk.length : nl;
      this.#lineBytes += end - i;
      if (this.#lineBytes > this.maxLine) {
        return `a protocol line longer than ${this.maxLine} bytes (nats.max_control_line)`;
      }
      this.#line.push(chunk.slice(i, end));
      if (nl < 0) return undefined;
      const why = this.#endLine();
      if (why) return why;
      i = nl + 1;
    }
    return undefined;
  }

  #endLine(): string | undefined {
    const text = this.#line.map((b) => ReferenceGuard.#latin1.decode(b)).join("").replace(
      /\r$/,
      "",
    );
    this.#line = [];
    this.#lineBytes = 0;
    const args = text.split(/[ \t]+/).filter((a) => a !== "");
    const op = (args[0] ?? "").toUpperCase();
    if (!ReferenceGuard.#ops.has(op)) return "a line that is not NATS protocol";
    if (op !== "MSG" && op !== "HMSG") return undefined;
    const size = args.length >= (op === "MSG" ? 4 : 5) ? args[args.length - 1] : "";
    if (!/^[0-9]{1,15}$/.test(size)) return `a ${op} line without its size`;
    if (Number(size) > NATS_MAX_MESSAGE_BYTES) {
      return `a message of ${size} bytes (at most ${NATS_MAX_MESSAGE_BYTES} are taken)`;
    }
    this.#message = Number(size) + 2;
    return undefined;
  }
}

/** A seeded generator of numbers in [0, 1) (the runs are the same each time). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What each chunk's check answered, up to the first refusal. */
function answers(g: { check(c: Uint8Array): string | undefined }, chunks: Uint8Array[]) {
  const out: (string | undefined)[] = [];
  for (const c of chunks) {
    const why = g.check(c);
    out.push(why);
    if (why !== undefined) break;
  }
  return out;
}

/** `stream` cut where `cuts` (ascending, inside it) say. */
function cut(stream: Uint8Array, cuts: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const at of [...cuts, stream.length]) {
    chunks.push(stream.slice(from, at));
    from = at;
  }
  return chunks;
}

/** A server's stream of `n` sound frames, in varied spellings (case, tabs, runs of blanks). */
function soundStream(rnd: () => number, n: number): Uint8Array {
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const blank = () => pick([" ", " ", "\t", "  ", " \t "]);
  const word = () => pick(["a.b", "_INBOX.x1", "$JS.ACK.s.c.1.2.3.4.0", "é.ü", "x\ry"]);
  const parts: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const kind = pick(["msg", "msg", "hmsg", "ping", "pong", "ok", "err", "info"]);
    const payload = Uint8Array.from(
      { length: Math.floor(rnd() * 40) },
      () => pick([13, 10, 32, 9, 77, 0, 255, 0xc3, 48 + Math.floor(rnd() * 10)]),
    );
    const lead = rnd() < 0.2 ? blank() : "";
    const tail = rnd() < 0.2 ? blank() : "";
    let line: string;
    if (kind === "msg" || kind === "hmsg") {
      const op = pick(kind === "msg" ? ["MSG", "msg", "MsG"] : ["HMSG", "hmsg", "hMsG"]);
      const size = String(payload.length).padStart(rnd() < 0.1 ? 3 : 0, "0");
      const words = [op, word(), String(Math.floor(rnd() * 9))];
      if (kind === "hmsg" || rnd() < 0.5) words.push(word());
      if (kind === "hmsg") words.push("0");
      words.push(size);
      line = lead + words.join(blank()) + tail;
    } else {
      line = lead + {
        ping: pick(["PING", "ping"]),
        pong: "PONG",
        ok: "+OK",
        err: "-ERR 'Permissions Violation for Subscription'",
        info: 'INFO {"server_id":"N1","max_payload":1048576}',
      }[kind]! + tail;
    }
    parts.push(Uint8Array.from(line + (rnd() < 0.9 ? "\r\n" : "\n"), (c) => c.charCodeAt(0)));
    if (kind === "msg" || kind === "hmsg") {
      parts.push(payload, Uint8Array.of(13, 10));
    }
  }
  const stream = new Uint8Array(parts.reduce((t, p) => t + p.length, 0));
  let o = 0;
  for (const p of parts) {
    stream.set(p, o);
    o += p.length;
  }
  return stream;
}

Deno.test("ProtocolGuard takes sound streams however they are cut", () => {
  const rnd = random(7);
  for (let s = 0; s < 40; s++) {
    const stream = soundStream(rnd, 12);
    for (let at = 0; at <= stream.length; at++) {
      const got = answers(new ProtocolGuard(4096), cut(stream, at === 0 ? [] : [at]));
      assert.ok(got.every((w) => w === undefined), `stream ${s} cut at ${at}: ${got}`);
    }
    const cuts = [...new Set(Array.from({ length: 8 }, () => Math.floor(rnd() * stream.length)))]
      .filter((at) => at > 0).sort((a, b) => a - b);
    assert.ok(answers(new ProtocolGuard(4096), cut(stream, cuts)).every((w) => w === undefined));
  }
});

Deno.test("ProtocolGuard refuses what breaks a bound at the chunk, and for the reason, the reference does", () => {
  const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  // Each hostile line follows a sound start, and is cut at every byte position.
  const hostile = [
    "MSG a 1 " + "x".repeat(70) + " 3",
    "MSG a 1 ten",
    "MSG a 1",
    "MSG a 1 ",
    "HMSG a 1 3",
    "HMSG a 1 0 3",
    "MSG a 1 3\r",
    "MSG a 1 3x",
    "MSG a 1 -3",
    "MSG a 1 +3",
    "MSG a 1 3.0",
    "MSG a 1 \u0663",
    "MSG a 1 1234567890123456",
    "MSG a 1 999999999999999",
    `MSG a 1 ${NATS_MAX_MESSAGE_BYTES + 1}`,
    `MSG a 1 000${NATS_MAX_MESSAGE_BYTES}`,
    `HMSG a 1 r 0 0${NATS_MAX_MESSAGE_BYTES + 1}`,
    "MSGX a 1 3",
    "MS a 1 3",
    "\u00ff\u0000 garbage",
    "\u00dfING",
    "PIN\u00c7",
    "",
    " \t ",
    "\rPING",
    "PING\r\r",
    "MSG\u00a0a 1 3",
    "MSG\va 1 3",
    "SUB a 1",
    "+ok",
    "-err",
    "INFO",
  ];
  const rnd = random(11);
  for (const [h, line] of hostile.entries()) {
    for (const ending of ["\r\n", "\n"]) {
      const stream = new Uint8Array([
        ...soundStream(rnd, 3),
        ...latin1(line + ending),
        ...latin1("MSG a 1 3\r\nabc\r\n"),
      ]);
      for (const maxLine of [64, 4096]) {
        for (let at = 0; at <= stream.length; at++) {
          const chunks = cut(stream, at === 0 ? [] : [at]);
          assert.deepEqual(
            answers(new ProtocolGuard(maxLine), chunks),
            answers(new ReferenceGuard(maxLine), chunks),
            `line ${h} (${JSON.stringify(line)}), max ${maxLine}, cut at ${at}`,
          );
        }
      }
    }
  }
  // The answers themselves, for a few (the reference could share a mistake).
  const first = (line: string) =>
    answers(new ProtocolGuard(64), [latin1(line + "\r\n")]).find((w) => w !== undefined);
  assert.equal(first("msg\ta\t1\t3"), undefined);
  assert.equal(first("MSG a 1 1234567890123456"), "a MSG line without its size");
  assert.equal(first("HMSG a 1 3"), "a HMSG line without its size");
  assert.equal(first("MSG a 1 3\r"), "a MSG line without its size");
  assert.equal(
    first(`MSG a 1 000${NATS_MAX_MESSAGE_BYTES + 1}`),
    `a message of 000${
      NATS_MAX_MESSAGE_BYTES + 1
    } bytes (at most ${NATS_MAX_MESSAGE_BYTES} are taken)`,
  );
  assert.equal(first("\u00dfING"), "a line that is not NATS protocol");
  assert.equal(
    first("MSG a 1 " + "x".repeat(70) + " 3"),
    "a protocol line longer than 64 bytes (nats.max_control_line)",
  );
});

Deno.test("ProtocolGuard and the reference agree on random streams with hostile lines, cut anywhere", () => {
  const rnd = random(23);
  const bytes = [32, 9, 13, 10, 48, 49, 57, 77, 83, 71, 72, 0, 255, 0xdf, 0xc3, 109, 115, 103];
  for (let s = 0; s < 400; s++) {
    const stream = soundStream(rnd, 4);
    // Bytes flipped at random into a sound stream: anything may break, anywhere.
    const flips = 1 + Math.floor(rnd() * 3);
    for (let f = 0; f < flips; f++) {
      stream[Math.floor(rnd() * stream.length)] = bytes[Math.floor(rnd() * bytes.length)];
    }
    const maxLine = rnd() < 0.5 ? 40 : 4096;
    for (let at = 0; at <= stream.length; at++) {
      const chunks = cut(stream, at === 0 ? [] : [at]);
      assert.deepEqual(
        answers(new ProtocolGuard(maxLine), chunks),
        answers(new ReferenceGuard(maxLine), chunks),
        `stream ${s}, max ${maxLine}, cut at ${at}`,
      );
    }
  }
});

Deno.test("an INFO line that never ends in CRLF is bounded while connecting, even when it holds bare line feeds", async () => {
  // The client reads the INFO line until CRLF: a bare LF does not end it, so each one the server
  // sends is kept too. The server writes up to 32 MiB unless the client closes first.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const lines = new Uint8Array(64 * 1024).fill(10);
  let written = 0;
  const served = (async () => {
    const c = await listener.accept();
    try {
      await c.write(enc("INFO {"));
      while (written < 32 * 1024 * 1024) written += await c.write(lines);
    } catch {
      /* the client closed the connection */
    } finally {
      try {
        c.close();
      } catch { /* closed */ }
    }
  })();
  const section = {
    user: undefined,
    password: undefined,
    token: undefined,
    creds: undefined,
    tls_ca: undefined,
    tls_cert: undefined,
    tls_key: undefined,
    timeout: 60_000,
    max_control_line: 4096,
  };
  try {
    const url = `nats://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    await assert.rejects(connectNats(natsSettings(url, section, "t"), silentLogger));
    await served;
    assert.ok(written < 32 * 1024 * 1024, `the client took all ${written} bytes of one line`);
  } finally {
    listener.close();
  }
});

/** A TCP proxy to `target` whose server side can turn hostile: `mode` is read per chunk. */
function proxy(target: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const state = { mode: "pass" as "pass" | "endless" | "garbage" };
  const conns: Deno.Conn[] = [];
  const hostile = async (to: Deno.Conn, mode: string) => {
    if (mode === "endless") await to.write(enc("MSG foo 1 "));
    const junk = new Uint8Array(64 * 1024).fill(mode === "endless" ? 120 : 0);
    // Until the client closes the connection (or 64 MiB, a bound for the test itself).
    for (let i = 0; i < 1024; i++) await to.write(junk);
  };
  const pump = async (from: Deno.Conn, to: Deno.Conn, serverSide: boolean) => {
    try {
      for await (const chunk of from.readable) {
        if (serverSide && state.mode !== "pass") return await hostile(to, state.mode);
        await to.write(chunk);
      }
    } catch {
      /* closed */
    } finally {
      for (const c of [from, to]) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    }
  };
  const serving = (async () => {
    for await (const client of listener) {
      try {
        const server = await Deno.connect({ hostname: "127.0.0.1", port: target });
        conns.push(client, server);
        void pump(client, server, false);
        void pump(server, client, true);
      } catch {
        client.close();
      }
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    state,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving.catch(() => {});
    },
  };
}

async function health(url: string): Promise<{ status?: string; engine?: string }> {
  try {
    const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
    return await r.json();
  } catch {
    return {};
  }
}

Deno.test({
  name: "a relay whose NATS link sends a line that never ends, or garbage, closes it, reports " +
    "degraded health, stays responsive and serves again once the link is sound",
  ignore: natsMissing !== undefined,
}, async () => {
  const nats = await startNats(1);
  const link = proxy(nats.nodes[0].port);
  const relay = await startIatpService([
    "relay",
    "--port",
    String(freePort()),
    "--store",
    `nats://127.0.0.1:${link.port}`,
    "--compat",
    "iatp",
    "--nats-max-control-line",
    "16KiB",
  ]);
  try {
    await waitFor(async () => (await health(relay.url)).status === "ok", 30_000, "health ok");
    for (const mode of ["endless", "garbage"] as const) {
      link.state.mode = mode;
      await waitFor(
        async () => (await health(relay.url)).engine === "unreachable",
        30_000,
        `${mode}: the relay to close the link and say so`,
      );
      link.state.mode = "pass";
      await waitFor(
        async () => (await health(relay.url)).status === "ok",
        30_000,
        `${mode}: the relay to connect again`,
      );
      const r = await fetch(`${relay.url}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "t", payload: { mode } }),
      });
      assert.equal(r.status, 201, await r.text());
    }
    assert.match(
      relay.stdout(),
      /engine connection closed: the server broke the protocol's bounds.*longer than 16384 bytes \(nats\.max_control_line\)/,
    );
  } finally {
    await relay.stop();
    await link.close();
    await nats.stop();
  }
});
