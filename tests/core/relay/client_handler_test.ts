/** RelayClient subscriptions whose handler throws: retried in place, never passed over. */
import assert from "node:assert/strict";
import { RelayClient } from "../../../core/relay/client/mod.ts";
import { waitFor } from "../../helpers.ts";
import { quietLog, startRelay } from "./relay_helpers.ts";

const fast = { backoffMinMs: 10, backoffMaxMs: 50, log: quietLog };

Deno.test("a handler that throws twice gets the same event again, in order, nothing skipped", async () => {
  const relay = await startRelay();
  const client = new RelayClient({ url: relay.url, ...fast, handlerAttempts: 5 });
  const got: number[] = [];
  let failuresLeft = 2;
  try {
    for (const n of [1, 2, 3]) await client.publishNow("t", { n });
    const sub = client.subscribe(["t"], (e) => {
      const n = e.payload.n as number;
      if (n === 2 && failuresLeft-- > 0) throw new Error("store busy");
      got.push(n);
    }, { since: "0" });
    await waitFor(() => got.length === 3, 15_000, "all three handled");
    assert.deepEqual(got, [1, 2, 3]);
    assert.equal(sub.failure(), undefined);
    sub.close();
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("past handlerAttempts the subscription stops before the event and says why", async () => {
  const relay = await startRelay();
  const client = new RelayClient({ url: relay.url, ...fast, handlerAttempts: 3 });
  const got: number[] = [];
  const statuses: string[] = [];
  let tries = 0;
  try {
    for (const n of [1, 2, 3]) await client.publishNow("t", { n });
    const sub = client.subscribe(["t"], (e) => {
      const n = e.payload.n as number;
      if (n === 2) {
        tries++;
        throw new Error("disk full");
      }
      got.push(n);
    }, { since: "0", onStatus: (s, err) => statuses.push(err ? `${s}: ${err}` : s) });
    await waitFor(() => sub.failure() !== undefined, 15_000, "the subscription fails");
    assert.equal(tries, 3, "handlerAttempts tries, no more");
    assert.deepEqual(got, [1], "event 3 is not taken past the failed 2");
    assert.match(sub.failure() ?? "", /3 times .* disk full/);
    assert.equal(statuses.at(-1), `failed: ${sub.failure()}`);
    const position = sub.lastId();
    assert.match(position ?? "", /-1$/, "the position stays at event 1");

    // A later subscription from that position (a restarted service) gets event 2 again.
    const again: number[] = [];
    const next = client.subscribe(["t"], (e) => void again.push(e.payload.n as number), {
      since: position,
    });
    await waitFor(() => again.length === 2, 15_000, "resumed");
    assert.deepEqual(again, [2, 3]);
    next.close();
  } finally {
    await client.close();
    await relay.close();
  }
});
