/**
 * Run by uuid_test.ts in a process of its own (with `--expose-gc`): makes 128,000 ids with
 * `randomUuid` (or `crypto.randomUUID` when the argument is "runtime"), keeps one of every 128,
 * and prints how much the collected heap grew, in bytes, as JSON.
 * @module
 */
import v8 from "node:v8";
import { randomUuid } from "../../../../core/crypto/uuid/mod.ts";

const make = Deno.args[0] === "runtime" ? () => crypto.randomUUID() : randomUuid;
const gc = (globalThis as unknown as { gc: () => void }).gc;
const used = () => {
  gc();
  return v8.getHeapStatistics().used_heap_size;
};
for (let i = 0; i < 10_000; i++) make(); // warm up
const kept: string[] = [];
const before = used();
for (let i = 0; i < 128 * 1_000; i++) {
  const id = make();
  if (i % 128 === 0) kept.push(id);
}
const grown = used() - before;
console.log(JSON.stringify({ kept: kept.length, grown }));
