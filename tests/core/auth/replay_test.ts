import assert from "node:assert/strict";
import { ReplayStore } from "../../../core/auth/replay.ts";
import { tempDir } from "../../helpers.ts";

Deno.test("replayed ids are refused, also after the store is reopened (restart)", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir.path}/replay.sqlite`;
    let store = new ReplayStore({ path, ttlMs: 60_000 });
    assert.equal(store.remember("a", "req-1"), "fresh");
    assert.equal(store.remember("a", "req-1"), "replay");
    assert.equal(store.remember("b", "req-1"), "fresh", "ids are per agent");
    store.close();
    store = new ReplayStore({ path, ttlMs: 60_000 });
    assert.equal(store.remember("a", "req-1"), "replay");
    assert.equal(store.size, 2);
    store.close();
  } finally {
    await dir.remove();
  }
});

Deno.test("ids expire after the window and the store refuses new ids when full", () => {
  let now = 1_000_000;
  const store = new ReplayStore({ path: ":memory:", ttlMs: 10_000, maxEntries: 2, now: () => now });
  assert.equal(store.remember("a", "1"), "fresh");
  assert.equal(store.remember("a", "2"), "fresh");
  assert.equal(store.remember("a", "3"), "full");
  now += 10_001;
  assert.equal(store.remember("a", "1"), "fresh", "expired ids may be reused");
  assert.equal(store.remember("a", "3"), "fresh");
  assert.equal(store.remember("a", "4"), "full");
  store.close();
});
