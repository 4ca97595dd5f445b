/**
 * End-to-end: the action agent takes orders only from who may give them. With a real relay that
 * authenticates publishers, a task from a listed publisher runs; one from a publisher that holds
 * the topic's publish scope but is not in relay.task_publishers is refused and reported (and
 * cannot squat the instruction id). With an open relay, an anonymous task is refused and
 * reported, unless relay.accept_anonymous_tasks is on (which warns at start).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { auditLines, writeConfig, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { type ChildService, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { startOpenRelay } from "./open_relay.ts";

const AGENT = "ord-a";
const TOPIC = `action.tasks.${AGENT}`;
const OPS = "ops-credential-1";
const INTRUDER = "intruder-credential-1";
const AGENT_TOKEN = "agent-credential-1";

/** The principal id the relay gives a static token. */
const principal = (token: string) =>
  `token:${createHash("sha256").update(token).digest("hex").slice(0, 8)}`;

function task(id: string, echo: string) {
  return { id, plugin_id: "echo-action", instruction_type: "execute", input_data: { echo } };
}

/** Parsed JSON log lines of a child whose `msg` is `msg`. */
function logLines(child: ChildService, msg: string): Array<Record<string, unknown>> {
  return child.stdout().split("\n").flatMap((l) => {
    try {
      const rec = JSON.parse(l);
      return rec.msg === msg ? [{ ...rec, ...rec.fields }] : [];
    } catch {
      return [];
    }
  });
}

Deno.test("action e2e: relay tasks run only from authorized publishers; refusals are reported", async () => {
  const dir = await tempDir("iatp-orders-e2e-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const env = { IATP_DATA_DIR: dir.path };
  const tokens = {
    [OPS]: [`publish:${TOPIC}`, "subscribe:action.results"],
    [INTRUDER]: [`publish:${TOPIC}`],
    [AGENT_TOKEN]: [`subscribe:${TOPIC}`, "publish:action.results"],
  };
  const relay = await startIatpService(["relay", "--port", "0"], {
    env: { ...env, IATP_RELAY_TOKENS: JSON.stringify(tokens) },
  });
  const ops = new RelayClient({ url: relay.url, token: OPS });
  const intruder = new RelayClient({ url: relay.url, token: INTRUDER, maxAttempts: 1 });
  const results: RelayEvent[] = [];
  const sub = ops.subscribe(["action.results"], (e) => {
    results.push(e);
  }, { since: "0" });
  const base = join(dir.path, "agent");
  const cfg = await writeConfig(dir.path, "action.yaml", {
    agent: { id: AGENT, base_folder: base, max_concurrent_tasks: 1 },
    plugins: { directory: join(dir.path, "plugins") },
    health: { port: 0 },
    relay: { url: relay.url, token: AGENT_TOKEN, task_publishers: [principal(OPS)] },
  });
  let agent: ChildService | undefined;
  try {
    agent = await startIatpService(["action", "--config", cfg], { env });
    // The relay itself refuses an unauthenticated publish.
    const anon = await fetch(`${relay.url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: TOPIC, payload: task("ord-0", "anon") }),
    });
    assert.equal(anon.status, 401);
    await anon.body?.cancel();
    await intruder.publishNow(TOPIC, task("ord-dup", "intruder first"));
    await ops.publishNow(TOPIC, task("ord-1", "from ops"));
    await intruder.publishNow(TOPIC, task("ord-2", "intruder"));
    await ops.publishNow(TOPIC, task("ord-dup", "ops, same id"));
    await waitFor(() => results.length >= 4, 30_000, "four results");
    assert.equal(results.length, 4, "one result per task");
    const of = (id: string) => results.filter((e) => e.payload.instruction_id === id);
    assert.equal(of("ord-1")[0].payload.status, "completed");
    assert.deepEqual(of("ord-1")[0].payload.result, { echo: "from ops", token: "" });
    const refused = of("ord-2")[0].payload;
    assert.equal(refused.status, "failed");
    assert.equal(refused.error_type, "unauthorized");
    // Stored as a type nothing runs, whatever the refused task asked for.
    assert.equal(refused.instruction_type, "refused");
    assert.match(
      String(refused.error_message),
      new RegExp(`publisher ${principal(INTRUDER)} is not in relay.task_publishers`),
    );
    // The intruder's use of an id did not stop the authorized task with that id from running.
    assert.deepEqual(of("ord-dup").map((e) => e.payload.status).sort(), ["completed", "failed"]);
    // Every result event names its publisher: the agent's own credential.
    assert.ok(results.every((e) => e.publisher === principal(AGENT_TOKEN)));

    const audit = await auditLines(base);
    const refusals = audit.filter((l) => l.event === "instruction.refused");
    assert.equal(refusals.length, 2);
    assert.ok(refusals.every((l) => (l.data as { code: string }).code === "publisher_not_allowed"));
    const received = audit.find((l) =>
      l.event === "instruction.received" &&
      (l.data as { instruction_id: string }).instruction_id === "ord-1"
    );
    assert.equal((received?.data as { publisher: string }).publisher, principal(OPS));
    // One log line per run and per refusal; no credential in any of them.
    assert.equal(logLines(agent, "instruction finished").length, 2);
    assert.equal(logLines(agent, "instruction refused").length, 2);
    for (const t of [OPS, INTRUDER, AGENT_TOKEN]) assert.ok(!agent.stdout().includes(t));
  } finally {
    sub.close();
    await ops.close();
    await intruder.close();
    await agent?.stop("SIGTERM");
    await relay.stop("SIGTERM");
    await dir.remove();
  }
});

Deno.test("action e2e: anonymous tasks from an open relay are refused unless explicitly accepted", async () => {
  const { env, client, results, config, close } = await startOpenRelay(
    "iatp-orders-anon-e2e-",
    AGENT,
  );
  let agent: ChildService | undefined;
  try {
    agent = await startIatpService(["action", "--config", await config(false)], { env });
    await client.publishNow(TOPIC, task("anon-1", "nobody"));
    await waitFor(() => results.length >= 1, 30_000, "the refusal");
    const r = results[0].payload;
    assert.equal(r.instruction_id, "anon-1");
    assert.equal(r.status, "failed");
    assert.equal(r.error_type, "unauthorized");
    assert.match(String(r.error_message), /anonymous task/);
    assert.equal(logLines(agent, "relay.accept_anonymous_tasks is on").length, 0);
    await agent.stop("SIGTERM");

    agent = await startIatpService(["action", "--config", await config(true)], { env });
    const warning = "relay.accept_anonymous_tasks is on: anyone who can publish to the " +
      "relay can give this agent orders (development only)";
    // Logged as the relay link starts, which may come just after `listening`.
    const started = agent;
    await waitFor(() => logLines(started, warning).length > 0, 30_000, "the dev-mode warning");
    assert.equal(logLines(agent, warning).length, 1);
    await client.publishNow(TOPIC, task("anon-2", "dev mode"));
    await waitFor(() => results.length >= 2, 30_000, "the dev-mode run");
    assert.equal(results[1].payload.instruction_id, "anon-2");
    assert.equal(results[1].payload.status, "completed");
    // anon-1 was refused and reported once; the restart did not run it.
    assert.equal(results.filter((e) => e.payload.instruction_id === "anon-1").length, 1);
  } finally {
    await agent?.stop("SIGTERM");
    await close();
  }
});

Deno.test("action e2e: a refused task replayed after a stop stays refused under a laxer config", async () => {
  const { env, base, client, results, config, close } = await startOpenRelay(
    "iatp-orders-replay-e2e-",
    AGENT,
  );
  let agent: ChildService | undefined;
  try {
    agent = await startIatpService(["action", "--config", await config(false)], { env });
    await client.publishNow(TOPIC, task("replayed-1", "nobody"));
    await waitFor(() => results.length >= 1, 30_000, "the refusal");
    await agent.stop("SIGTERM");
    // A stop between recording the refusal and recording the relay position: the next start
    // reads the task again, now with anonymous tasks accepted.
    const db = new DatabaseSync(join(base, "data", "state", "agent.db"));
    try {
      const gone = db.prepare("DELETE FROM kv WHERE key = 'relay.tasks.last_id'").run();
      assert.equal(gone.changes, 1);
    } finally {
      db.close();
    }
    agent = await startIatpService(["action", "--config", await config(true)], { env });
    await client.publishNow(TOPIC, task("after-1", "dev mode"));
    await waitFor(
      () => results.some((e) => e.payload.instruction_id === "after-1"),
      30_000,
      "the task after the restart",
    );
    const replayed = results.filter((e) => e.payload.instruction_id === "replayed-1");
    assert.deepEqual(replayed.map((e) => e.payload.status), ["failed"]);
    assert.ok(!agent.stdout().includes('"instruction_id":"replayed-1","instruction_type"'));
  } finally {
    await agent?.stop("SIGTERM");
    await close();
  }
});

Deno.test("action e2e: a task the state store cannot record is held and run once it can, not lost", async () => {
  const { env, base, client, results, config, close } = await startOpenRelay(
    "iatp-orders-held-e2e-",
    AGENT,
  );
  let agent: ChildService | undefined;
  let holder: DatabaseSync | undefined;
  try {
    agent = await startIatpService(["action", "--config", await config(true)], { env });
    await client.publishNow(TOPIC, task("held-0", "before"));
    await waitFor(() => results.length >= 1, 30_000, "the first task's result");
    // Another writer holds the agent's state database: its writes fail, as on a full disk.
    holder = new DatabaseSync(join(base, "data", "state", "agent.db"));
    holder.exec("BEGIN EXCLUSIVE");
    await client.publishNow(TOPIC, task("held-1", "while the store fails"));
    const running = agent;
    await waitFor(
      () => running.stdout().includes("database is locked"),
      30_000,
      "the failed write",
    );
    holder.exec("COMMIT");
    holder.close();
    holder = undefined;
    await waitFor(
      () => results.some((e) => e.payload.instruction_id === "held-1"),
      30_000,
      "held-1 run once the store takes it",
    );
    const held = results.filter((e) => e.payload.instruction_id === "held-1");
    assert.equal(held.length, 1);
    assert.equal(held[0].payload.status, "completed");
  } finally {
    holder?.close();
    await agent?.stop("SIGTERM");
    await close();
  }
});
