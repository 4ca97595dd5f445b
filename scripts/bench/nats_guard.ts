/**
 * The cost of the NATS protocol guard (core/nats/guard.ts) on its own: `ProtocolGuard.check`
 * over a stream shaped as a JetStream consumer receives it (MSG lines with ACK replies, one in
 * four an HMSG with a header, a PING every 50 messages, payloads of about 400 bytes), cut into
 * chunks of 64 KiB at whatever byte they fall on. Prints one JSON document: milliseconds per MiB
 * of each round, and the median as nanoseconds per message; then, for scale, the same for the
 * client's own parser (the one the guard runs before) reading the same chunks. `--guard` measures another copy of
 * the module (a checkout of an earlier commit), so two versions can be run in turn.
 * Usage: deno run -A scripts/bench/nats_guard.ts [--guard PATH] [--mib 32] [--rounds 7]
 * @module
 */
import { parseArgs } from "node:util";
// The client's own parser, as the transport re-exports it from @nats-io/nats-core/internal.
import { Parser } from "@nats-io/transport-node/lib/nats-base-client.js";

const USAGE = `Usage: deno run -A scripts/bench/nats_guard.ts [--guard PATH] [--mib N] [--rounds N]
  [--chunk BYTES]
  --guard PATH     the guard module to measure (default core/nats/guard.ts of this checkout)
  --mib N          MiB of server stream to check per round (default 32)
  --rounds N       rounds, each with a new guard (default 7)
  --chunk BYTES    chunk size the stream is cut into (default 65536)
Prints one JSON document.`;

interface Guard {
  check(chunk: Uint8Array): string | undefined;
}

/** The stream: `mib` MiB of JetStream deliveries; how many messages it holds. */
function stream(mib: number): { bytes: Uint8Array; messages: number } {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let total = 0;
  let seq = 0;
  while (total < mib * 1024 * 1024) {
    seq++;
    const payload = JSON.stringify({
      id: `evt-${seq}`,
      topic: "bench.topic",
      data: "x".repeat(330),
    });
    const reply = `$JS.ACK.iatp-relay.relay-abc123.1.${seq}.${seq}.1765150000000000000.0`;
    let s: string;
    if (seq % 4 === 0) {
      const h = `NATS/1.0\r\nNats-Msg-Id: m${seq}\r\n\r\n`;
      s = `HMSG _INBOX.AbCdEfGhIjKlMnOp.${seq % 97} 3 ${reply} ${h.length} ` +
        `${h.length + payload.length}\r\n${h}${payload}\r\n`;
    } else {
      s = `MSG iatp.relay.events.bench.topic 2 ${reply} ${payload.length}\r\n${payload}\r\n`;
    }
    if (seq % 50 === 0) s += "PING\r\n";
    const b = enc.encode(s);
    parts.push(b);
    total += b.length;
  }
  const bytes = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, messages: seq };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      guard: { type: "string" },
      mib: { type: "string", default: "32" },
      rounds: { type: "string", default: "7" },
      chunk: { type: "string", default: "65536" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const path = values.guard
    ? new URL(values.guard, `file://${Deno.cwd()}/`).href
    : new URL("../../core/nats/guard.ts", import.meta.url).href;
  const { ProtocolGuard } = await import(path) as {
    ProtocolGuard: new (maxLine: number) => Guard;
  };
  const { bytes, messages } = stream(Number(values.mib));
  const size = Number(values.chunk);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  const mib = bytes.length / 1048576;
  const rounds: number[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    const g = new ProtocolGuard(65536);
    const t0 = performance.now();
    for (const c of chunks) {
      const why = g.check(c);
      if (why !== undefined) throw new Error(`the guard refused the stream: ${why}`);
    }
    rounds.push((performance.now() - t0) / mib);
  }
  const median = [...rounds].sort((a, b) => a - b)[rounds.length >> 1];
  const parsed: number[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    let n = 0;
    const p = new Parser({ push: () => n++ });
    const t0 = performance.now();
    for (const c of chunks) p.parse(c);
    parsed.push((performance.now() - t0) / mib);
    if (n < messages) throw new Error(`the client's parser read ${n} of ${messages} messages`);
  }
  const parserMedian = [...parsed].sort((a, b) => a - b)[parsed.length >> 1];
  console.log(JSON.stringify({
    bench: "nats_guard",
    guard: path,
    mib: Number(mib.toFixed(1)),
    messages,
    ms_per_mib: rounds.map((ms) => Number(ms.toFixed(3))),
    median_ms_per_mib: Number(median.toFixed(3)),
    median_ns_per_message: Number((median * mib * 1e6 / messages).toFixed(1)),
    client_parser_ms_per_mib: parsed.map((ms) => Number(ms.toFixed(3))),
    client_parser_median_ns_per_message: Number((parserMedian * mib * 1e6 / messages).toFixed(1)),
  }));
}
