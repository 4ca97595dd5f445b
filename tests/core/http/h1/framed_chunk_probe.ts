/**
 * Probe (run with --expose-gc): a chunk made by `framedChunk` lives as long as its framing, which
 * is what an HTTP/1.1 connection holds while it writes it; once neither is held, both go.
 * Prints `{ kept, freed }` as JSON.
 * @module
 */
import { chunkFrame, framedChunk } from "../../../../core/http/h1/framing.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");
/** A full collection once the current job ended (WeakRef targets are kept through a job). */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 0));
    gc!();
  }
}

function made(): { chunk: WeakRef<Uint8Array>; framed: Uint8Array } {
  const chunk = framedChunk(3);
  chunk.set([104, 105, 33]);
  return { chunk: new WeakRef(chunk), framed: chunkFrame(chunk) };
}

let held: { chunk: WeakRef<Uint8Array>; framed: Uint8Array } | undefined = made();
await collect();
const kept = held.chunk.deref() !== undefined && held.framed.length === 8;
const chunk = held.chunk;
const framed = new WeakRef(held.framed);
held = undefined;
await collect();
const freed = chunk.deref() === undefined && framed.deref() === undefined;
console.log(JSON.stringify({ kept, freed }));
