import assert from "node:assert/strict";
import { SOCKET_READ_PATH, socketReader } from "../../../../core/http/socket/mod.ts";
import { seeded } from "../../../support/prng.ts";
import { tcpPair, unixPair } from "../../../support/socket_pairs.ts";
import { runGcProbe } from "../../../support/gc_probe.ts";

/** Reads until the end of the stream with `read`, in reads of at most `size` bytes. */
async function readAll(read: (into: Uint8Array) => Promise<number>, size: number) {
  const parts: number[] = [];
  const counts: number[] = [];
  for (;;) {
    const into = new Uint8Array(size);
    const n = await read(into);
    counts.push(n);
    if (n === 0) return { bytes: parts, counts };
    parts.push(...into.subarray(0, n));
  }
}

Deno.test("this runtime reads sockets through its read op, with no per-read Set", () => {
  assert.equal(SOCKET_READ_PATH, "op");
});

Deno.test("socketReader reads what Deno.Conn.read reads, and 0 where it gives null", async () => {
  const rng = seeded(18);
  for (let round = 0; round < 6; round++) {
    const chunks = Array.from(
      { length: 1 + rng.int(12) },
      () => Uint8Array.from({ length: 1 + rng.int(3000) }, () => rng.int(256)),
    );
    const sent = chunks.flatMap((c) => [...c]);
    const size = 1 + rng.int(2048);
    const results = [];
    for (const kind of ["op", "method"] as const) {
      const pair = await tcpPair();
      try {
        const writing = (async () => {
          for (const c of chunks) await pair.peer.write(c);
          pair.peer.close();
        })();
        const read = kind === "op"
          ? socketReader(pair.conn)
          : (into: Uint8Array) => pair.conn.read(into).then((n) => n === null ? 0 : n);
        results.push(await readAll(read, size));
        await writing;
      } finally {
        pair.close();
      }
    }
    const [viaOp, viaMethod] = results;
    assert.deepEqual(viaOp.bytes, sent, `round ${round}`);
    assert.deepEqual(viaMethod.bytes, sent, `round ${round}`);
    assert.equal(viaOp.counts.at(-1), 0);
    assert.ok(viaOp.counts.slice(0, -1).every((n) => n > 0 && n <= size));
  }
});

Deno.test("socketReader reads a Unix socket, and ends with 0", async () => {
  const pair = await unixPair();
  try {
    await pair.peer.write(new TextEncoder().encode("hello"));
    pair.peer.close();
    const { bytes, counts } = await readAll(socketReader(pair.conn), 64);
    assert.equal(new TextDecoder().decode(Uint8Array.from(bytes)), "hello");
    assert.equal(counts.at(-1), 0);
  } finally {
    await pair.close();
  }
});

Deno.test("a read in flight fails as Deno.Conn.read's does when its connection is closed", async () => {
  const names = [];
  for (const kind of ["op", "method"] as const) {
    const pair = await tcpPair();
    const read = kind === "op"
      ? socketReader(pair.conn)
      : (into: Uint8Array) => pair.conn.read(into);
    const pending = read(new Uint8Array(16));
    pair.conn.close();
    const err = await pending.then(() => undefined, (e) => e);
    assert.ok(err instanceof Error, `${kind}: the read should fail`);
    names.push(err.constructor.name);
    pair.close();
  }
  assert.equal(names[0], names[1]);
});

Deno.test("socketReader refuses an empty buffer instead of reading a false end of stream", async () => {
  const pair = await tcpPair();
  try {
    await assert.rejects(socketReader(pair.conn)(new Uint8Array(0)), RangeError);
  } finally {
    pair.close();
  }
});

Deno.test("socket reads leave no garbage in the old generation (Deno.Conn.read's Set does)", async () => {
  const { perRead } = await runGcProbe<{ perRead: number }>(
    new URL("./socket_read_probe.ts", import.meta.url),
    { net: true, v8Flags: ["--max-semi-space-size=4"] },
  );
  // Deno.Conn.read leaves about 120 bytes per read there; a promotion or two of the probe's own
  // objects stays far below 16 per read over 20,000 reads.
  assert.ok(perRead < 16, `old generation grew ${perRead} bytes per read`);
});
