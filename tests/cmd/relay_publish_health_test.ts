/**
 * Services that publish to the relay in the background (the audit service's `audit.appended`,
 * the status agent's `status.*`) with a credential that lacks the publish scope: every event is
 * refused and dropped, and `/health` says so (degraded, naming the scope) rather than ok.
 */
import assert from "node:assert/strict";
import { command as audit } from "../../cmd/audit.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { startRelay } from "../core/relay/relay_helpers.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";

const READER = "reads-only-credential-0001";

async function health(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/health`);
  return await res.json();
}

Deno.test("audit: audit.appended events the relay refuses for good make /health degraded", async () => {
  const dir = await tempDir("iatp-audit-relay-refused-");
  const relay = await startRelay({ tokens: { [READER]: ["subscribe:*"] } });
  const svc = await audit.start(
    audit.resolve({
      port: 0,
      db: `${dir.path}/audit.db`,
      compat: "iatp",
      relay_url: relay.url,
      relay_token: READER,
    }),
    { log: silentLogger },
  );
  try {
    assert.equal((await health(svc.url)).status, "ok", "nothing published yet");
    const res = await fetch(`${svc.url}/audit`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tx_id: "tx-1", event: "probe", actor: "t" }),
    });
    assert.equal(res.status, 201, await res.text());
    await waitFor(
      async () => {
        const c = (await health(svc.url)).components as Record<string, Record<string, unknown>>;
        return c.relay?.dropped === 1;
      },
      20_000,
      "the event dropped",
    );
    const body = await health(svc.url);
    assert.equal(body.status, "degraded");
    assert.match(
      String(body.reason),
      /relay: the latest event was refused and dropped: relay answered 403: credential lacks scope publish:audit\.appended/,
    );
  } finally {
    await svc.close();
    await relay.close();
    await dir.remove();
  }
});

Deno.test("status: status.* events the relay refuses for good make /health degraded", async () => {
  const dir = await tempDir("iatp-status-relay-refused-");
  const relay = await startRelay({ tokens: { [READER]: ["subscribe:*"] } });
  const agent = await startIatpService(["status", "--port", "0"], {
    env: {
      IATP_DATA_DIR: dir.path,
      IATP_STATUS_RELAY_URL: relay.url,
      IATP_STATUS_RELAY_TOKEN: READER,
      METRICS_INTERVAL_SECS: "0.2",
    },
  });
  try {
    await waitFor(
      async () => (await health(agent.url)).status === "degraded",
      20_000,
      "a degraded /health",
    );
    const body = await health(agent.url);
    assert.match(
      String(body.reason),
      /relay: the latest event was refused and dropped: relay answered 403: credential lacks scope publish:status\./,
    );
    assert.ok(!JSON.stringify(body).includes(READER), "the credential is never shown");
  } finally {
    await agent.stop();
    await relay.close();
    await dir.remove();
  }
});
