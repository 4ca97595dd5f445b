/**
 * The relay's `max_payload_bytes` against the NATS server's `max_payload` (every message, headers
 * included): above it, the relay refuses to start (exit 2 naming the setting and the server's
 * bound); a server restarted with a lower bound under a running relay has each event it cannot
 * carry answered 413 (`message_too_large`, `stream_limit: max_payload`), which the relay client
 * drops, instead of 503 (retried forever).
 * @module
 */
import assert from "node:assert/strict";
import type { Service } from "../../../core/http/mod.ts";
import { RelayClient, RelayError } from "../../../core/relay/mod.ts";
import { natsMissing, startConfiguredNats } from "../../support/nats.ts";
import { runIatp, waitFor } from "../../helpers.ts";
import { publish, startRelay } from "./relay_helpers.ts";

const ignore = natsMissing !== undefined;

Deno.test({
  name: "jetstream payload: max_payload_bytes above what the server's max_payload carries " +
    "exits 2 naming the setting and the server's bound",
  ignore,
}, async () => {
  const server = await startConfiguredNats(`max_payload: ${64 * 1024}`);
  try {
    const r = await runIatp([
      "relay",
      "--port",
      "0",
      "--store",
      server.url,
      "--max-payload-bytes",
      String(64 * 1024),
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /max_payload_bytes/);
    assert.match(r.stderr, /at most 64512 \(the NATS server's max_payload of 65536 bytes/);
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  } finally {
    await server.stop();
  }
});

Deno.test({
  name: "jetstream payload: a server restarted with a lower max_payload under a running relay: " +
    "an event it cannot carry answers 413 at once (the client drops it), smaller ones go",
  ignore,
}, async () => {
  const server = await startConfiguredNats(`max_payload: ${1024 * 1024}`);
  let relay: Service | undefined;
  const client = () => new RelayClient({ url: relay!.url, maxAttempts: 3, backoffMinMs: 10 });
  let c: RelayClient | undefined;
  try {
    relay = await startRelay({
      store: server.url,
      compat: "iatp",
      max_payload_bytes: 200 * 1024,
      nats: { timeout: 60_000 },
    });
    assert.equal((await publish(relay.url, "t", { n: 1 })).status, 201);
    await server.restart(`max_payload: ${16 * 1024}`);
    await waitFor(
      async () => (await publish(relay!.url, "t", { n: 2 })).status === 201,
      20_000,
      "the relay back on the server",
    );
    const big = await fetch(`${relay.url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "t", payload: { pad: "x".repeat(100 * 1024) } }),
      signal: AbortSignal.timeout(20_000),
    });
    const body = await big.json();
    assert.equal(big.status, 413, JSON.stringify(body));
    assert.equal(body.reason, "message_too_large");
    assert.equal(body.stream_limit, "max_payload");
    c = client();
    await assert.rejects(
      c.publishNow("t", { pad: "y".repeat(100 * 1024) }),
      (e) => e instanceof RelayError && e.status === 413 && e.permanent,
    );
    assert.equal((await publish(relay.url, "t", { n: 3 })).status, 201);
  } finally {
    await c?.close();
    await relay?.close();
    await server.stop();
  }
});
