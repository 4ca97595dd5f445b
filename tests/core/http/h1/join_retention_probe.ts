/**
 * Run with `--v8-flags=--expose-gc`: joins shared chunks ending with a chunk that lives on (as
 * the relay's heartbeat frame does), drops every other reference, collects, and prints whether
 * the chunks joined and their join are still held (`{"chunk":bool,"joined":bool}`).
 * @module
 */
import { joinChunks, shareChunk } from "../../../../core/http/h1/framing.ts";

const gc = (globalThis as unknown as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

const heartbeat = shareChunk(new TextEncoder().encode(": heartbeat\n\n"));

function join(): { chunk: WeakRef<Uint8Array>; joined: WeakRef<Uint8Array> } {
  const big = shareChunk(new Uint8Array(512 * 1024).fill(97));
  const joined = joinChunks([big, heartbeat], big.length + heartbeat.length);
  // A second connection with the same queue gets the same join (what the cache is for).
  if (joinChunks([big, heartbeat], big.length + heartbeat.length) !== joined) {
    throw new Error("not shared");
  }
  return { chunk: new WeakRef(big), joined: new WeakRef(joined) };
}

const refs = join();
for (let i = 0; i < 5; i++) {
  await new Promise((r) => setTimeout(r, 0));
  gc();
}
console.log(JSON.stringify({
  chunk: refs.chunk.deref() !== undefined,
  joined: refs.joined.deref() !== undefined,
  heartbeat: heartbeat.length,
}));
