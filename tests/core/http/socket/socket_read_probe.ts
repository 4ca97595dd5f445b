/**
 * Run by socket_read_test.ts in a process of its own: reads `READS` 100-byte messages over a
 * loopback connection with `socketReader` (or `Deno.Conn.read` when the argument is "method")
 * and prints the old generation's growth per read, in bytes, as JSON.
 * @module
 */
import v8 from "node:v8";
import { socketReader } from "../../../../core/http/socket/mod.ts";

const READS = 20_000;
const oldBytes = () =>
  v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space")!.space_used_size;

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const accepted = listener.accept();
const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
const server = await accepted;
const read = Deno.args[0] === "method"
  ? (into: Uint8Array) => client.read(into).then((n) => n ?? 0)
  : socketReader(client);
const message = new Uint8Array(100).fill(7);
const into = new Uint8Array(100);

async function exchange(times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    await server.write(message);
    let got = 0;
    while (got < message.length) got += await read(into.subarray(got));
  }
}

// Warm up, then start from a collected heap: the connection (and anything it keeps) is old now.
await exchange(5_000);
(globalThis as unknown as { gc: () => void }).gc();
const before = oldBytes();
await exchange(READS);
const perRead = (oldBytes() - before) / READS;
console.log(JSON.stringify({ perRead }));
client.close();
server.close();
listener.close();
