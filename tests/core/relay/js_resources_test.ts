/**
 * A NATS server whose JetStream storage is used up (`max_file_store`), or whose account is over
 * its JetStream limits, refuses the relay's publishes until an operator makes room: the relay
 * answers at once (not after `--nats-timeout`) 503 with Retry-After, `reason: engine_full` and
 * which bound (`server_resources`, `account_limits`), and `/health` is degraded meanwhile; the
 * event is kept by a relay client (retried), as for a full disk.
 * @module
 */
import assert from "node:assert/strict";
import type { Service } from "../../../core/http/mod.ts";
import { natsMissing, startConfiguredNats } from "../../support/nats.ts";
import { startRelay } from "./relay_helpers.ts";

const ignore = natsMissing !== undefined;
/** Far longer than any answer here may take: a publish that waits for it fails the test. */
const NATS_TIMEOUT_MS = 60_000;

/** Publishes 64 KiB events until one is refused; that answer (within a bound far below the deadline). */
async function fillUntilRefused(url: string) {
  for (let n = 0; n < 64; n++) {
    const res = await fetch(`${url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: `t${n % 4}`, payload: { pad: "x".repeat(64 * 1024) } }),
      signal: AbortSignal.timeout(20_000),
    });
    const body = await res.json();
    if (res.status !== 201) {
      return { status: res.status, body, retryAfter: res.headers.get("retry-after") };
    }
  }
  throw new Error("every publish was stored");
}

for (
  const [what, settings, user, limit] of [
    [
      "the server's JetStream storage is used up",
      'jetstream { store_dir: "{store}", max_file_store: 1MB }',
      "",
      "server_resources",
    ],
    [
      "the account is over its JetStream limits",
      'jetstream { store_dir: "{store}" }\n' +
      "accounts { A { jetstream { max_file: 1MB }, users [{ user: relay, password: pw-relay }] } }",
      "relay:pw-relay@",
      "account_limits",
    ],
  ]
) {
  Deno.test({
    name:
      `jetstream resources: when ${what}, a publish answers 503 at once (engine_full, ${limit})`,
    ignore,
  }, async () => {
    const server = await startConfiguredNats(settings);
    let relay: Service | undefined;
    try {
      relay = await startRelay({
        store: server.url.replace("nats://", `nats://${user}`),
        compat: "iatp",
        nats: { timeout: NATS_TIMEOUT_MS },
      });
      const r = await fillUntilRefused(relay.url);
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.reason, "engine_full");
      assert.equal(r.body.stream_limit, limit);
      assert.equal(r.retryAfter, "1");
      const health = await (await fetch(`${relay.url}/health`)).json();
      assert.equal(health.status, "degraded");
      assert.match(String(health.reason), /^store: cannot write: the NATS (server|account)/);
      assert.doesNotMatch(JSON.stringify(health), /pw-relay/);
    } finally {
      await relay?.close();
      await server.stop();
    }
  });
}
