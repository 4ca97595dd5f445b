/**
 * Policy replicas sharing the intents on NATS JetStream: a relay on a real nats-server, a real
 * ledger, two `iatp policy --queue` replicas as child processes, one killed with SIGKILL while
 * intents stream in. Every intent gets exactly one decision (one record in the KV bucket, every
 * published copy the same decision) and exactly one ledger entry.
 */
import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { command as auditCommand, start as startAudit } from "../../cmd/audit.ts";
import { command as policyCommand, start as startPolicy } from "../../cmd/policy.ts";
import { command as relayCommand, start as startRelay } from "../../cmd/relay.ts";
import { createLogger, silentLogger } from "../../core/log/mod.ts";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { type ChildService, runIatp, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { natsMissing, startNats } from "../support/nats.ts";

const intent = (tx: string) => ({
  tx_id: tx,
  subject: { enterprise: "A", id: "agent", roles: [] },
  resource: { enterprise: "B", id: "doc", scope: "read" },
  context: { session_risk: 42 },
});

/** nats-server, a relay on it and an audit service under `dir`: what the replicas share. */
async function startBackends(dir: { path: string }) {
  const nats = await startNats();
  // Intents wait in the relay's history until a replica acknowledges them: it must hold the
  // backlog (the upstream default of 50 per topic would evict intents a dead replica held).
  const relay = await startRelay(
    relayCommand.resolve({ port: 0, store: nats.url, retention_events: 10_000 }),
    { log: silentLogger },
  );
  const audit = await startAudit(auditCommand.resolve({ port: 0, db: `${dir.path}/audit.db` }), {
    log: silentLogger,
  });
  return { nats, relay, audit };
}

Deno.test({
  name: "policy replicas on JetStream: one replica killed mid-stream, every intent has exactly " +
    "one decision and one ledger entry",
  ignore: natsMissing !== undefined,
}, async () => {
  const dir = await tempDir("iatp-policy-replicas-");
  const { nats, relay, audit } = await startBackends(dir);
  const client = new RelayClient({ url: relay.url });
  const decisions: RelayEvent[] = [];
  const sub = client.subscribe(["access.decision"], (e) => void decisions.push(e), { since: "0" });
  const nc = await connect({ servers: nats.nodes[0].url });
  const replicas: ChildService[] = [];
  const env = { IATP_DATA_DIR: dir.path };
  const args = [
    "policy",
    "--port",
    "0",
    "--relay-url",
    relay.url,
    "--audit-url",
    audit.url,
    "--queue",
    nats.url,
    "--queue-ack-wait",
    "2s",
  ];
  try {
    for (let i = 0; i < 2; i++) replicas.push(await startIatpService(args, { env }));
    const txs = Array.from({ length: 120 }, (_, i) => `rep-${i}`);
    let killed = false;
    for (const tx of txs) {
      await client.publishNow("access.intent", intent(tx));
      if (!killed && decisions.length >= 30) {
        await replicas[0].stop("SIGKILL");
        killed = true;
      }
    }
    if (!killed) await replicas[0].stop("SIGKILL");
    const decided = (tx: string) => decisions.filter((d) => d.payload.tx_id === tx);
    await waitFor(() => txs.every((tx) => decided(tx).length > 0), 60_000, "every decision");
    for (const tx of txs) {
      // Published again only if a replica died between publishing and recording delivery:
      // then it is the same decision.
      const copies = new Set(decided(tx).map((d) => JSON.stringify(d.payload)));
      assert.equal(copies.size, 1, `one decision for ${tx}`);
    }
    const ledger = async (tx: string) => await (await fetch(`${audit.url}/tx/${tx}`)).json();
    await waitFor(
      async () => (await Promise.all(txs.map(ledger))).every((l) => l.length > 0),
      60_000,
      "every ledger entry",
    );
    for (const tx of txs) assert.equal((await ledger(tx)).length, 1, `ledger entries of ${tx}`);
    const kv = await new Kvm(jetstream(nc)).open("IATP_POLICY_DECISIONS");
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    assert.equal(keys.length, txs.length);
    const status = await kv.status();
    assert.equal(status.values, txs.length, "one record per tx_id (history 1)");
  } finally {
    sub.close();
    await Promise.all(replicas.map((r) => r.stop("SIGKILL")));
    await client.close();
    await nc.close();
    await audit.close();
    await relay.close();
    await nats.stop();
    await dir.remove();
  }
});

Deno.test({
  name:
    "policy --queue: an engine out of reach exits 2 naming queue; --queue without --relay-url " +
    "exits 2 naming relay_url",
  ignore: natsMissing !== undefined,
}, async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const url = `nats://127.0.0.1:${port}`;
  const down = await runIatp([
    "policy",
    "--port",
    "0",
    "--relay-url",
    "http://127.0.0.1:9",
    "--queue",
    url,
    "--nats-timeout",
    "1s",
  ]);
  assert.equal(down.code, 2, down.stderr);
  assert.match(down.stderr, new RegExp(`queue .*${url.replaceAll(".", "\\.")}`));
  const alone = await runIatp(["policy", "--port", "0", "--queue", url]);
  assert.equal(alone.code, 2, alone.stderr);
  assert.match(alone.stderr, /relay_url/);
});

Deno.test({
  name: "policy --queue set by env or by the config file: its start errors name that source",
  ignore: natsMissing !== undefined,
}, async () => {
  const dir = await tempDir("iatp-policy-queue-source-");
  const nats = await startNats();
  try {
    // A server out of reach (the engine's connection), the queue set by env.
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const down = await runIatp(
      ["policy", "--port", "0", "--relay-url", "http://127.0.0.1:9", "--nats-timeout", "1s"],
      { env: { IATP_DATA_DIR: dir.path, IATP_POLICY_QUEUE: `nats://127.0.0.1:${port}` } },
    );
    assert.equal(down.code, 2, down.stderr);
    assert.match(down.stderr, /queue \(env IATP_POLICY_QUEUE\): expected a reachable NATS server/);
    // A server holding no relay stream (the shared consumer cannot open), the queue set on line 3
    // of the config file.
    const cfg = `${dir.path}/policy.yaml`;
    await Deno.writeTextFile(cfg, `port: 0\nrelay_url: http://127.0.0.1:9\nqueue: ${nats.url}\n`);
    const bare = await runIatp(["policy", "--config", cfg], { env: { IATP_DATA_DIR: dir.path } });
    assert.equal(bare.code, 2, bare.stderr);
    assert.match(
      bare.stderr,
      /queue \(\S*policy\.yaml:3\): expected the relay's stream IATP_RELAY/,
    );
    assert.doesNotMatch(bare.stderr, /flag --queue/);
  } finally {
    await nats.stop();
    await dir.remove();
  }
});

/** A data folder, a nats-server and a relay on its JetStream: what a `policy --queue` test runs on. */
async function queueRig(prefix: string) {
  const dir = await tempDir(prefix);
  const nats = await startNats();
  const relay = await startRelay(relayCommand.resolve({ port: 0, store: nats.url }), {
    log: silentLogger,
  });
  return { dir, nats, relay };
}

/** `iatp policy` of a rig: deciding from its queue, publishing on its relay, `more` flags after. */
function startQueuedPolicy(rig: Awaited<ReturnType<typeof queueRig>>, more: string[] = []) {
  return startIatpService([
    "policy",
    "--port",
    "0",
    "--relay-url",
    rig.relay.url,
    ...more,
    "--queue",
    rig.nats.url,
  ], { env: { IATP_DATA_DIR: rig.dir.path } });
}

Deno.test({
  name:
    "policy --queue: a decision the ledger could not take is appended on retry, not published " +
    "on the relay again",
  ignore: natsMissing !== undefined,
}, async () => {
  const rig = await queueRig("iatp-policy-queue-ledger-");
  const { dir, nats, relay } = rig;
  const audit = await startAudit(auditCommand.resolve({ port: 0, db: `${dir.path}/audit.db` }), {
    log: silentLogger,
  });
  // The ledger answers 503 until it is let through.
  let open = false;
  const gate = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (!open) return new Response("down", { status: 503 });
    const u = new URL(req.url);
    return await fetch(`${audit.url}${u.pathname}${u.search}`, {
      method: req.method,
      headers: req.headers,
      body: req.method === "GET" ? undefined : await req.arrayBuffer(),
    });
  });
  const client = new RelayClient({ url: relay.url });
  const decisions: RelayEvent[] = [];
  const sub = client.subscribe(["access.decision"], (e) => void decisions.push(e), { since: "0" });
  const policy = await startQueuedPolicy(rig, [
    "--audit-url",
    `http://127.0.0.1:${gate.addr.port}`,
  ]);
  try {
    await client.publishNow("access.intent", intent("led-1"));
    await waitFor(
      () => decisions.length > 0 && policy.stdout().includes("the intent is offered again"),
      30_000,
      "published, then the ledger failed every attempt",
    );
    const health = async () => await (await fetch(`${policy.url}/health`)).json();
    const held = await health();
    assert.equal(held.status, "degraded");
    assert.equal(held.components.delivery.ok, false);
    assert.match(
      held.components.delivery.reason,
      /not delivered, their intents offered again: .*503/,
    );
    assert.doesNotMatch(JSON.stringify(held), /led-1/, "no tx_id on the open /health");
    open = true;
    const ledger = async () => await (await fetch(`${audit.url}/tx/led-1`)).json();
    await waitFor(async () => (await ledger()).length === 1, 60_000, "the ledger entry on retry");
    await waitFor(async () => (await health()).status === "ok", 30_000, "ok once delivered");
    await client.publishNow("access.intent", intent("led-2"));
    await waitFor(
      () => decisions.some((d) => d.payload.tx_id === "led-2"),
      30_000,
      "the next decision",
    );
    assert.equal(decisions.filter((d) => d.payload.tx_id === "led-1").length, 1, "published once");
  } finally {
    sub.close();
    await policy.stop("SIGTERM");
    await client.close();
    await gate.shutdown();
    await audit.close();
    await relay.close();
    await nats.stop();
    await dir.remove();
  }
});

Deno.test({
  name: "policy --queue: /health is degraded while the intent queue cannot be read, ok after",
  ignore: natsMissing !== undefined,
}, async () => {
  const rig = await queueRig("iatp-policy-queue-health-");
  const { dir, nats, relay } = rig;
  const policy = await startQueuedPolicy(rig);
  const health = async () => await (await fetch(`${policy.url}/health`)).json();
  try {
    await waitFor(async () => (await health()).status === "ok", 30_000, "consuming");
    await nats.nodes[0].kill();
    await waitFor(async () => (await health()).status === "degraded", 60_000, "degraded");
    assert.match((await health()).reason, /^queue: /);
    assert.doesNotMatch(JSON.stringify(await health()), /nats:\/\//, "no engine URL");
    await nats.nodes[0].restart();
    await waitFor(async () => (await health()).status === "ok", 60_000, "ok again");
  } finally {
    await policy.stop("SIGTERM");
    await relay.close();
    await nats.stop();
    await dir.remove();
  }
});

Deno.test({
  name: "policy --queue: /health is degraded while the engine is frozen (connections open, no " +
    "answer), ok after it goes on",
  ignore: natsMissing !== undefined,
}, async () => {
  const rig = await queueRig("iatp-policy-queue-frozen-");
  const { dir, nats, relay } = rig;
  const policy = await startQueuedPolicy(rig);
  const health = async () => await (await fetch(`${policy.url}/health`)).json();
  const pid = nats.nodes[0].process.pid;
  try {
    await waitFor(async () => (await health()).status === "ok", 30_000, "consuming");
    Deno.kill(pid, "SIGSTOP");
    await waitFor(async () => (await health()).status === "degraded", 60_000, "degraded");
    assert.match((await health()).reason, /^queue: /);
    Deno.kill(pid, "SIGCONT");
    await waitFor(async () => (await health()).status === "ok", 60_000, "ok again");
  } finally {
    Deno.kill(pid, "SIGCONT");
    await policy.stop("SIGTERM");
    await relay.close();
    await nats.stop();
    await dir.remove();
  }
});

Deno.test({
  name: "policy --queue: decisions the bucket refuses are retried with one log line a minute " +
    "(with count), not one a retry; /health does not call them recorded",
  ignore: natsMissing !== undefined,
}, async () => {
  const dir = await tempDir("iatp-policy-refused-");
  const { nats, relay, audit } = await startBackends(dir);
  const jsm = await nats.manager();
  // A bucket made by another tool, whose values may hold 10 bytes: every record is refused.
  await jsm.streams.add({
    name: "KV_SMALL",
    subjects: ["$KV.SMALL.>"],
    max_msg_size: 10,
    max_msgs_per_subject: 1,
    allow_rollup_hdrs: true,
    deny_delete: true,
    discard: "new",
    allow_direct: true,
  });
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    service: "policy-test",
    level: "warn",
    sink: (l) => lines.push(JSON.parse(l)),
  });
  const policy = await startPolicy(
    policyCommand.resolve({
      port: 0,
      relay_url: relay.url,
      audit_url: audit.url,
      queue: nats.url,
      decisions_bucket: "SMALL",
    }),
    { log },
  );
  const client = new RelayClient({ url: relay.url });
  try {
    for (let i = 0; i < 5; i++) await client.publishNow("access.intent", intent(`small-${i}`));
    // Every intent handled and offered again at least twice.
    await waitFor(
      async () =>
        (await jsm.consumers.info("IATP_RELAY", "policy-intents")).delivered.consumer_seq >= 15,
      60_000,
      "intents offered again",
    );
    const retried = lines.filter((l) => String(l.msg).startsWith("decision not delivered yet"));
    // 15 retries within seconds: one line (two should a minute pass on a crawling machine).
    assert.ok(retried.length <= 2, JSON.stringify(retried));
    assert.equal((retried[0].fields as Record<string, unknown>).count, 1);
    const health = await (await fetch(`${policy.url}/health`)).json();
    assert.equal(health.status, "degraded");
    assert.doesNotMatch(String(health.reason), /recorded/);
    assert.match(String(health.reason), /message size exceeds maximum/);
  } finally {
    await client.close();
    await policy.close();
    await audit.close();
    await relay.close();
    await nats.stop();
    await dir.remove();
  }
});
