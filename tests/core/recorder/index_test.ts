// The trace index against a plain model: random traces of ASCII, long and non-ASCII ids through
// rings small enough that ids share cells and records are evicted all the time.
import assert from "node:assert/strict";
import { FlightRecorder } from "../../../core/recorder/mod.ts";
import { TraceIndex } from "../../../core/recorder/trace_index.ts";

/** A small deterministic generator (so a failure can be replayed). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5 >>> 0) / 2 ** 32;
}

const POOL = [
  ...Array.from({ length: 40 }, (_, i) => `trace-${i}`),
  "x".repeat(128),
  "x".repeat(129),
  "é-trace",
  "😀",
  "",
];

/** The recorder holds, for each of `ids`, the records the model keeps (the last `capacity`). */
function agrees(
  r: FlightRecorder,
  model: { id: string; n: number }[],
  ids: string[],
  label: string,
  n: number,
): void {
  for (const q of ids) {
    const want = model.filter((m) => m.id === q).map((m) => m.n);
    const got = r.inMemory(q);
    assert.deepEqual(got.map((x) => x.details.n), want, `${label}, ${q} at ${n}`);
    for (const x of got) assert.equal(x.trace_id, q);
  }
}

Deno.test("the ring's index answers as a plain model does, across evictions and reused slots", () => {
  for (const capacity of [1, 2, 3, 7, 64]) {
    const next = rng(capacity);
    const r = new FlightRecorder({ capacity });
    const model: { id: string; n: number }[] = [];
    for (let n = 0; n < 3_000; n++) {
      const id = POOL[Math.floor(next() * POOL.length)];
      r.record("request", id, { n });
      model.push({ id, n });
      if (model.length > capacity) model.shift();
      const probe = POOL[Math.floor(next() * POOL.length)];
      agrees(r, model, [id, probe], `capacity ${capacity}`, n);
    }
  }
});

Deno.test("records chained by number answer as the model does, whatever number is given", () => {
  // The number of a trace's last record (evicted or not), of an older one of it, another
  // trace's, or one never made: each record still lands in its own trace, in order (with more
  // slots than the index keeps id strings for, too: 300).
  for (const capacity of [1, 2, 3, 7, 64, 300]) {
    const next = rng(capacity + 100);
    const r = new FlightRecorder({ capacity });
    const model: { id: string; n: number }[] = [];
    const numbers = new Map<string, number[]>();
    let previous = -1;
    for (let n = 0; n < 3_000; n++) {
      const id = POOL[Math.floor(next() * POOL.length)];
      const own = numbers.get(id) ?? [];
      const pick = next();
      const after = pick < 0.5
        ? own.at(-1)
        : pick < 0.7
        ? own[Math.floor(next() * own.length)]
        : pick < 0.85
        ? previous
        : pick < 0.95
        ? Math.floor(next() * 4_000) - 500
        : undefined;
      const number = r.record("request", id, { n }, after);
      assert.equal(number, n, "records are numbered in order");
      own.push(number);
      numbers.set(id, own.slice(-capacity - 1));
      previous = number;
      model.push({ id, n });
      if (model.length > capacity) model.shift();
      const probe = POOL[Math.floor(next() * POOL.length)];
      agrees(r, model, [id, probe], `capacity ${capacity}`, n);
    }
  }
});

Deno.test("TraceIndex keeps every id of a full ring findable when ids share cells", () => {
  const slots = 16;
  const index = new TraceIndex(slots);
  const ids = Array.from({ length: slots }, (_, i) => `id-${i}`);
  ids.forEach((id, slot) => {
    assert.equal(index.find(id), -1);
    index.put(slot, id);
  });
  // Free the even slots (each trace has one record), then check the rest and refill.
  for (let s = 0; s < slots; s += 2) index.release(s, true);
  ids.forEach((id, slot) => assert.equal(index.find(id), slot % 2 ? slot : -1, id));
  for (let s = 0; s < slots; s += 2) {
    assert.equal(index.find(`new-${s}`), -1);
    index.put(s, `new-${s}`);
  }
  for (let s = 0; s < slots; s++) {
    const id = s % 2 ? ids[s] : `new-${s}`;
    assert.equal(index.find(id), s, id);
    assert.equal(index.idOf(s), id);
  }
});

Deno.test("findFor copies the id while hashing it: put after it keeps the same id as find's", () => {
  const slots = 8;
  const index = new TraceIndex(slots);
  const ids = ["a-1", "x".repeat(128), "x".repeat(129), "é-trace", "😀", "", "a-1", "b"];
  ids.forEach((id, slot) => {
    // The newest slot of a trace seen before, else none.
    assert.equal(index.findFor(slot, id), ids.indexOf(id) < slot ? ids.indexOf(id) : -1, id);
    index.put(slot, id);
  });
  ids.forEach((id, slot) => {
    assert.equal(index.idOf(slot), id, `slot ${slot}`);
    assert.equal(index.find(id), slot === 0 ? 6 : slot, id); // slot 6 is a-1's newest
  });
  // A find after findFor takes back what it staged: put copies the id itself.
  index.release(7, true);
  index.findFor(7, "c");
  assert.equal(index.find("d"), -1);
  index.put(7, "d");
  assert.equal(index.idOf(7), "d");
  assert.equal(index.find("d"), 7);
  assert.equal(index.find("c"), -1);
});
