import assert from "node:assert/strict";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";
import {
  chunk,
  type StallConnection,
  startStallServer,
  STREAM_HEAD,
} from "../support/stall_server.ts";

const intent = {
  tx_id: "t-stop",
  subject: { enterprise: "A", id: "agent", roles: [] },
  resource: { enterprise: "B", id: "doc", scope: "read" },
  context: { session_risk: 42 },
};
const event = {
  event_id: "e-1",
  seq: 1,
  topic: "access.intent",
  ts: 1_700_000_000,
  payload: intent,
};

/** The policy service's arguments: on `relayUrl`, its state in `dir`, and `extra`. */
function policyArgs(relayUrl: string, dir: string, extra: string[] = []): string[] {
  return [
    "policy",
    "--port",
    "0",
    "--relay-url",
    relayUrl,
    "--state-db",
    `${dir}/policy-state.db`,
    ...extra,
  ];
}

/**
 * A relay that streams the one intent to every subscription (kept in `subscribes`) and hands each
 * publish to `onPublish`, which answers it or not.
 */
function intentRelay(
  onPublish: (c: StallConnection) => void | Promise<void>,
  subscribes: StallConnection[] = [],
) {
  return startStallServer(async (c) => {
    if (c.lines[0].startsWith("POST /publish")) {
      await onPublish(c);
    } else if (c.lines[0].startsWith("GET /subscribe")) {
      subscribes.push(c);
      await c.write(STREAM_HEAD);
      await c.write(chunk(`id: 1\nevent: message\ndata: ${JSON.stringify(event)}\n\n`));
    } else {
      await c.write("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    }
  });
}

// A decision whose publish the relay took while the policy service was stopping (SIGTERM) was
// left recorded as not published: the stop did not wait for the relay's answer, and the next
// start published it a second time. The stop waits for the delivery in flight (within the relay
// client's request deadline) and records it, so a restart sends it no second time.
Deno.test("policy: a decision the relay takes while the service stops is recorded, not published again on restart", async () => {
  const dir = await tempDir();
  const publishes: StallConnection[] = [];
  const subscribes: StallConnection[] = [];
  let answerAtOnce = false;
  const publishAnswer = JSON.stringify({ event_id: "d-1", seq: 2, id: "2" });
  const answerPublish = (c: StallConnection) =>
    c.write(
      `HTTP/1.1 201 Created\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${publishAnswer.length}\r\n\r\n${publishAnswer}`,
    );
  const relay = intentRelay(async (c) => {
    publishes.push(c);
    if (answerAtOnce) await answerPublish(c);
  }, subscribes);
  const args = policyArgs(relay.url, dir.path);
  const env = { IATP_DATA_DIR: dir.path };
  let policy = await startIatpService(args, { env });
  try {
    await waitFor(() => publishes.length === 1, 20_000, "the decision's publish");
    await policy.process.kill("SIGTERM");
    await waitFor(() => policy.stdout().includes('"shutting down"'), 10_000, "the stop");
    // The relay takes it now. Without the fix the process may be gone already.
    await answerPublish(publishes[0]).catch(() => {});
    assert.equal((await policy.process.status).code, 0);

    answerAtOnce = true;
    const before = subscribes.length;
    policy = await startIatpService(args, { env });
    // Re-delivery of what is left runs before the subscription: once it subscribed, it is done.
    await waitFor(() => subscribes.length > before, 20_000, "the second start's subscription");
    assert.equal(publishes.length, 1, policy.stdout());
  } finally {
    await policy.stop();
    relay.close();
    await dir.remove();
  }
});

// The wait for the relay's answer to a publish is the operator's to bound (relay_timeout): a
// relay that takes the request and never answers costs one deadline, then the decision waits
// for its next delivery round, and a stop does not wait longer than that deadline.
Deno.test("policy: --relay-timeout bounds the wait for a relay that never answers a publish", async () => {
  const dir = await tempDir();
  const publishes: StallConnection[] = [];
  const relay = intentRelay((c) => void publishes.push(c));
  const policy = await startIatpService(
    policyArgs(relay.url, dir.path, ["--relay-timeout", "300ms"]),
    {
      env: { IATP_DATA_DIR: dir.path },
    },
  );
  try {
    await waitFor(() => publishes.length >= 1, 20_000, "the decision's publish");
    // Five tries of the default deadline (10 s each) are well past this wait: only the setting
    // makes it in time.
    await waitFor(
      () => policy.stdout().includes("decision not delivered yet"),
      20_000,
      "the publish to give up at --relay-timeout",
    );
    const health = await (await fetch(`${policy.url}/health`)).json();
    assert.equal(health.status, "degraded", JSON.stringify(health));
  } finally {
    await policy.stop();
    relay.close();
    await dir.remove();
  }
});

// A subscription that goes silent (no event, no heartbeat) is made again after the operator's
// bound (relay_idle_timeout), from the position it had reached.
Deno.test("policy: --relay-idle-timeout makes a silent subscription again", async () => {
  const dir = await tempDir();
  const subscribes: StallConnection[] = [];
  const answer = JSON.stringify({ event_id: "d-1", seq: 2, id: "2" });
  const relay = intentRelay(async (c) => {
    await c.write(
      `HTTP/1.1 201 Created\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${answer.length}\r\n\r\n${answer}`,
    );
  }, subscribes);
  const policy = await startIatpService(
    policyArgs(relay.url, dir.path, ["--relay-idle-timeout", "1s"]),
    {
      env: { IATP_DATA_DIR: dir.path },
    },
  );
  try {
    // The default (a minute) is well past this wait: only the setting makes it in time.
    await waitFor(() => subscribes.length >= 2, 20_000, "a second subscription");
    assert.match(subscribes[1].lines.find((l) => /^last-event-id:/i.test(l)) ?? "", /: 1$/);
  } finally {
    await policy.stop();
    relay.close();
    await dir.remove();
  }
});
