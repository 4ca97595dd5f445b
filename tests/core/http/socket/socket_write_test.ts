/**
 * Socket writes through the runtime's `write` op (core/http/socket): the bytes, counts and
 * errors `Deno.Conn.write` gives, without its async function around the op.
 */
import assert from "node:assert/strict";
import { SOCKET_WRITE_PATH, socketWriter } from "../../../../core/http/socket/mod.ts";
import { seeded } from "../../../support/prng.ts";
import { tcpPair, unixPair } from "../../../support/socket_pairs.ts";

/** Every byte `peer` reads until the end of the stream. */
async function drain(peer: Deno.Conn): Promise<number[]> {
  const out: number[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await peer.read(buf);
    if (n === null) return out;
    for (let i = 0; i < n; i++) out.push(buf[i]);
  }
}

Deno.test("this runtime writes sockets through its write op, with no async function per write", () => {
  assert.equal(SOCKET_WRITE_PATH, "op");
});

Deno.test("socketWriter writes what Deno.Conn.write writes, and counts what the socket took", async () => {
  const rng = seeded(27);
  for (let round = 0; round < 4; round++) {
    const chunks = Array.from(
      { length: 1 + rng.int(10) },
      // Up to 300 KB: larger than a socket buffer, so some writes are partial.
      () =>
        Uint8Array.from(
          { length: 1 + rng.int(rng.int(2) === 0 ? 3000 : 300_000) },
          () => rng.int(256),
        ),
    );
    const sent = chunks.flatMap((c) => [...c]);
    for (const kind of ["op", "method"] as const) {
      const pair = await tcpPair();
      try {
        const write = kind === "op"
          ? socketWriter(pair.conn)
          : (b: Uint8Array) => pair.conn.write(b);
        const reading = drain(pair.peer);
        for (const c of chunks) {
          let off = 0;
          while (off < c.length) {
            const n = await write(c.subarray(off));
            assert.ok(n > 0 && n <= c.length - off, `${kind}: count ${n}`);
            off += n;
          }
        }
        pair.conn.closeWrite();
        assert.deepEqual(await reading, sent, `${kind}, round ${round}`);
      } finally {
        pair.close();
      }
    }
  }
});

Deno.test("socketWriter writes a Unix socket", async () => {
  const pair = await unixPair();
  try {
    const bytes = new TextEncoder().encode("hello");
    assert.equal(await socketWriter(pair.conn)(bytes), bytes.length);
    pair.conn.close();
    assert.equal(new TextDecoder().decode(Uint8Array.from(await drain(pair.peer))), "hello");
  } finally {
    await pair.close();
  }
});

Deno.test("a write to a closed connection fails as Deno.Conn.write's does", async () => {
  const names = [];
  for (const kind of ["op", "method"] as const) {
    const pair = await tcpPair();
    const write = kind === "op" ? socketWriter(pair.conn) : (b: Uint8Array) => pair.conn.write(b);
    pair.conn.close();
    const err = await write(new Uint8Array(16)).then(() => undefined, (e) => e);
    assert.ok(err instanceof Error, `${kind}: the write should fail`);
    names.push(err.constructor.name);
    pair.close();
  }
  assert.equal(names[0], names[1]);
});

Deno.test("a write to a peer that reset fails as Deno.Conn.write's does", async () => {
  const names = [];
  for (const kind of ["op", "method"] as const) {
    const pair = await tcpPair();
    const write = kind === "op" ? socketWriter(pair.conn) : (b: Uint8Array) => pair.conn.write(b);
    pair.peer.close();
    const big = new Uint8Array(256 * 1024);
    let err: unknown;
    // The first writes may land before the peer's close is known; a later one fails.
    for (let i = 0; i < 50 && err === undefined; i++) {
      err = await write(big).then(() => undefined, (e) => e);
    }
    assert.ok(err instanceof Error, `${kind}: a write should fail`);
    names.push(err.constructor.name);
    pair.close();
  }
  assert.equal(names[0], names[1]);
});
