/**
 * A relay replica whose tail cannot read the JetStream stream (the account at its consumer
 * limit), with a real nats-server: `/health` on every isolate is degraded and names the engine's
 * reason, and `iatp_relay_store_ok` is 0, instead of `ok` while its subscribers got nothing new; it is `ok` again once the tail
 * reads (the limit raised).
 * @module
 */
import assert from "node:assert/strict";
import { natsMissing, startConfiguredNats } from "../../support/nats.ts";
import { waitFor } from "../../helpers.ts";
import { exchange } from "../../support/raw_http.ts";
import { healths, startJsRelay } from "./relay_helpers.ts";

const ACCOUNT = `jetstream { store_dir: "{store}" }
accounts {
  TIGHT {
    jetstream { max_mem: 1M, max_file: 16M, max_streams: 4, max_consumers: 1 }
    users [ { user: tight, password: "tight-s3cret" } ]
  }
}`;

/** `iatp_relay_store_ok` of /metrics (the main isolate's, whichever isolate answers). */
async function storeOk(port: number): Promise<string | undefined> {
  const r = await exchange(
    port,
    "GET /metrics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
  );
  return /^iatp_relay_store_ok\{[^}]*\} (\d+)$/m.exec(r?.body ?? "")?.[1];
}

Deno.test({
  name: "jetstream relay: a replica whose tail cannot be made (consumer limit) is degraded on " +
    "every isolate, naming why; ok again once it reads",
  ignore: natsMissing !== undefined,
}, async () => {
  const nats = await startConfiguredNats(ACCOUNT);
  const url = nats.url.replace("nats://", "nats://tight:tight-s3cret@");
  const relay = (...extra: string[]) => startJsRelay(url, ...extra);
  const first = await relay("--workers=1");
  const second = await relay("--workers=2");
  try {
    await waitFor(() => second.stdout().includes("relay workers serving"), 30_000, "workers");
    const port = Number(new URL(second.url).port);
    await waitFor(
      async () => (await healths(port, 20)).every((h) => h.status === "degraded"),
      15_000,
      "every isolate of the second replica degraded",
    );
    // Twenty more, all degraded: a worker isolate knows it too, not only the main one.
    const again = await healths(port, 20);
    assert.deepEqual(again.map((h) => h.status), again.map(() => "degraded"));
    const [h] = again;
    const store = (h.components as Record<string, Record<string, unknown>>).store;
    assert.equal(store.ok, false);
    assert.match(String(store.reason), /^cannot read the stream: .*consumer/);
    assert.doesNotMatch(JSON.stringify(h), /tight-s3cret/);
    assert.equal(await storeOk(port), "0", "/metrics says so too");
    // The account's limit raised (the server restarted with it): the tail is made and reads.
    await nats.restart(ACCOUNT.replace("max_consumers: 1", "max_consumers: 8"));
    await waitFor(
      async () => (await healths(port, 20)).every((h) => h.status === "ok"),
      60_000,
      "the second replica ok once its tail reads",
    );
    assert.equal(await storeOk(port), "1");
  } finally {
    await second.stop();
    await first.stop();
    await nats.stop();
  }
});
