/**
 * The compose-agent's watchdog events on a relay that refuses them for good (a credential without
 * `publish:status.watchdog`): every event is dropped, and `/health` says so (degraded, `relay:
 * failing` with the reason) rather than ok.
 */
import assert from "node:assert/strict";
import { startRelay } from "../core/relay/relay_helpers.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";
import {
  ensureBusyboxImage,
  ensureDockerd,
  removeContainers,
  runContainer,
  uniqueName,
} from "../support/dockerd.ts";

/** The test Docker daemon; the test is ignored (never passed) without one. */
const dockerd = await ensureDockerd();

const READER = "reads-only-credential-0002";

async function health(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/health`);
  return await res.json();
}

Deno.test({
  name: "compose-agent: watchdog events the relay refuses for good make /health degraded",
  ignore: !dockerd.available,
}, async () => {
  const d = dockerd;
  const image = await ensureBusyboxImage(d.socket);
  const dir = await tempDir("iatp-compose-relay-refused-");
  const crashed = uniqueName("iatp-relay-health");
  const relay = await startRelay({ tokens: { [READER]: ["subscribe:*"] } });
  let agent: Awaited<ReturnType<typeof startIatpService>> | undefined;
  try {
    agent = await startIatpService([
      "compose-agent",
      "--port",
      "0",
      "--docker-socket",
      d.socket,
      "--watchdog-containers",
      crashed,
      "--watchdog-check-interval",
      "300ms",
      "--watchdog-start-period",
      "0ms",
    ], {
      env: {
        IATP_DATA_DIR: dir.path,
        IATP_ALLOW_READ: d.socket,
        IATP_ALLOW_WRITE: d.socket,
        IATP_COMPOSE_AGENT_AGENT_ID: "compose-relay",
        IATP_COMPOSE_AGENT_AGENT_TOKEN: "compose-relay-health-key-0000000",
        AGENT_SCOPES: "docker:*",
        IATP_COMPOSE_AGENT_DEPLOYMENT_HASH: "dep-relay",
        IATP_COMPOSE_AGENT_RELAY_URL: relay.url,
        IATP_COMPOSE_AGENT_RELAY_TOKEN: READER,
      },
    });
    // An exited container the watchdog watches: it schedules a restart and publishes that.
    await runContainer(d.socket, crashed, [image, "sh", "-c", "exit 3"]);
    await waitFor(
      async () => (await health(agent!.url)).relay === "failing",
      30_000,
      "the watchdog's event refused",
    );
    const body = await health(agent.url);
    assert.equal(body.status, "degraded");
    assert.equal(body.service, "compose-agent");
    assert.match(
      String(body.relay_error),
      /the latest event was refused and dropped: relay answered 403: credential lacks scope publish:status\.watchdog/,
    );
    assert.ok(!JSON.stringify(body).includes(READER), "the credential is never shown");
  } finally {
    await agent?.stop();
    await removeContainers(d.socket, [crashed]);
    await relay.close();
    await dir.remove();
  }
});
