/**
 * End-to-end: action tasks through a JetStream work queue. Two `iatp action` agents of one
 * group share the queue fed by a relay on the same nats-server; the agent holding a task is
 * killed with SIGKILL mid-run, the task is given to the other agent and runs to completion
 * once; a task from a publisher the agents do not obey is refused (the publisher comes from the
 * relay, through the queue).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { auditLines, writeConfig, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { type ChildService, runIatp, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { natsMissing, startNats } from "../support/nats.ts";

const OPS = "ops-token-0001";
const OTHER = "other-token-01";
const tokenId = (t: string) => `token:${createHash("sha256").update(t).digest("hex").slice(0, 8)}`;

function task(id: string, sleepMs: number) {
  return {
    id,
    plugin_id: "echo-action",
    instruction_type: "execute",
    input_data: { echo: id, sleep_ms: sleepMs },
    timeout_seconds: 60,
  };
}

/** Audit lines of `base`, none while the agent has not written any. */
async function audit(base: string): Promise<Array<Record<string, unknown>>> {
  try {
    return await auditLines(base);
  } catch {
    return [];
  }
}

function about(lines: Array<Record<string, unknown>>, event: string, id: string) {
  return lines.filter((l) =>
    l.event === event && (l.data as { instruction_id?: string }).instruction_id === id
  );
}

/**
 * A NATS server, the fixture plugins and a relay on the server whose credentials let OPS send
 * tasks and read results, the agent's credential (written to `agent.token`) send results, and
 * `more` what they grant.
 */
async function queueMesh(prefix: string, more: Record<string, string[]> = {}) {
  const dir = await tempDir(prefix);
  const nats = await startNats();
  await writeFixturePlugins(join(dir.path, "plugins"));
  const env = { IATP_DATA_DIR: dir.path };
  const tokens = {
    [OPS]: ["publish:action.tasks.*", "subscribe:action.results"],
    ...more,
    "agent-token-001": ["publish:action.results"],
  };
  const relay = await startIatpService(["relay", "--port", "0", "--store", nats.url], {
    env: { ...env, IATP_RELAY_TOKENS: JSON.stringify(tokens) },
  });
  await Deno.writeTextFile(join(dir.path, "agent.token"), "agent-token-001\n");
  return { dir, nats, env, relay, ops: new RelayClient({ url: relay.url, token: OPS }) };
}

Deno.test({
  name: "action e2e: a queued task held by an agent killed mid-run goes to the other agent of " +
    "the group and runs to completion once; a task from a publisher not obeyed is refused",
  ignore: natsMissing !== undefined,
}, async () => {
  const { dir, nats, env, relay, ops } = await queueMesh("iatp-queue-e2e-", {
    [OTHER]: ["publish:action.tasks.*"],
  });
  const other = new RelayClient({ url: relay.url, token: OTHER });
  const results: RelayEvent[] = [];
  const sub = ops.subscribe(["action.results"], (e) => {
    results.push(e);
  }, { since: "0" });
  const agents = new Map<string, ChildService>();
  const base = (id: string) => join(dir.path, id);
  try {
    for (const id of ["q-a1", "q-a2"]) {
      const cfg = await writeConfig(dir.path, `${id}.yaml`, {
        agent: { id, base_folder: base(id) },
        plugins: { directory: join(dir.path, "plugins") },
        health: { port: 0 },
        relay: {
          url: relay.url,
          token: `file:${join(dir.path, "agent.token")}`,
          queue: nats.url,
          queue_group: "grp",
          queue_ack_wait: "2s",
          task_publishers: [tokenId(OPS)],
        },
      });
      agents.set(id, await startIatpService(["action", "--config", cfg], { env }));
    }
    await ops.publishNow("action.tasks.grp", task("qt-1", 4_000));
    let holder = "";
    await waitFor(
      async () => {
        for (const id of agents.keys()) {
          if (about(await audit(base(id)), "instruction.received", "qt-1").length > 0) holder = id;
        }
        return holder !== "";
      },
      30_000,
      "an agent to take qt-1",
    );
    await agents.get(holder)!.stop("SIGKILL");
    agents.delete(holder);
    const [survivor] = agents.keys();
    await waitFor(
      () => results.some((e) => e.payload.instruction_id === "qt-1"),
      60_000,
      "qt-1's result",
    );
    const r = results.find((e) => e.payload.instruction_id === "qt-1")!.payload;
    assert.equal(r.status, "completed");
    assert.equal(r.agent_id, survivor);
    assert.deepEqual(r.result, { echo: "qt-1", token: "" });
    const executed = [
      ...about(await audit(base(holder)), "instruction.executed", "qt-1"),
      ...about(await audit(base(survivor)), "instruction.executed", "qt-1"),
    ];
    assert.equal(executed.length, 1, "qt-1 ran to completion once");

    await other.publishNow("action.tasks.grp", task("qt-2", 0));
    await waitFor(
      () => results.some((e) => e.payload.instruction_id === "qt-2"),
      30_000,
      "qt-2's refusal",
    );
    const refused = results.find((e) => e.payload.instruction_id === "qt-2")!.payload;
    assert.equal(refused.status, "failed");
    assert.equal(about(await audit(base(survivor)), "instruction.executed", "qt-2").length, 0);
    assert.equal(about(await audit(base(survivor)), "instruction.refused", "qt-2").length, 1);
  } finally {
    sub.close();
    await ops.close();
    await other.close();
    await Promise.all([...agents.values()].map((a) => a.stop("SIGKILL")));
    await relay.stop("SIGKILL");
    await nats.stop();
    await dir.remove();
  }
});

Deno.test({
  name: "action e2e: the queue's relay component is not ok while the engine is frozen " +
    "(connections open, no answer), ok again and taking tasks after it goes on",
  ignore: natsMissing !== undefined,
}, async () => {
  const { dir, nats, env, relay, ops } = await queueMesh("iatp-queue-frozen-");
  const base = join(dir.path, "q-f1");
  const cfg = await writeConfig(dir.path, "q-f1.yaml", {
    agent: { id: "q-f1", base_folder: base },
    plugins: { directory: join(dir.path, "plugins") },
    health: { port: 0 },
    relay: {
      url: relay.url,
      token: `file:${join(dir.path, "agent.token")}`,
      queue: nats.url,
      queue_group: "grp",
      task_publishers: [tokenId(OPS)],
    },
  });
  const agent = await startIatpService(["action", "--config", cfg], { env });
  const queueOk = async () => {
    const h = await (await fetch(`${agent.url}/health`)).json();
    return (h.components.relay as { ok: boolean }).ok;
  };
  const pid = nats.nodes[0].process.pid;
  try {
    await waitFor(queueOk, 30_000, "the queue read");
    Deno.kill(pid, "SIGSTOP");
    await waitFor(async () => !(await queueOk()), 60_000, "the queue not ok");
    Deno.kill(pid, "SIGCONT");
    await waitFor(queueOk, 60_000, "the queue ok again");
    await ops.publishNow("action.tasks.grp", task("qf-1", 0));
    await waitFor(
      async () => about(await audit(base), "instruction.executed", "qf-1").length > 0,
      30_000,
      "qf-1 run after the engine went on",
    );
  } finally {
    Deno.kill(pid, "SIGCONT");
    await ops.close();
    await agent.stop("SIGKILL");
    await relay.stop("SIGKILL");
    await nats.stop();
    await dir.remove();
  }
});

Deno.test({
  name: "action e2e: groups a_b and a.b, whose queues share a name, do not take each other's " +
    "tasks: the second to start exits 2 naming relay.queue_group",
  ignore: natsMissing !== undefined,
}, async () => {
  const { dir, nats, env, relay, ops } = await queueMesh("iatp-queue-names-");
  const config = (id: string, group: string) =>
    writeConfig(dir.path, `${id}.yaml`, {
      agent: { id, base_folder: join(dir.path, id) },
      plugins: { directory: join(dir.path, "plugins") },
      health: { port: 0 },
      relay: {
        url: relay.url,
        token: `file:${join(dir.path, "agent.token")}`,
        queue: nats.url,
        queue_group: group,
        task_publishers: [tokenId(OPS)],
      },
    });
  const first = await startIatpService(["action", "--config", await config("q-n1", "a_b")], {
    env,
  });
  try {
    const second = await runIatp(["action", "--config", await config("q-n2", "a.b")], {
      env,
      timeoutMs: 30_000,
    });
    assert.equal(second.code, 2, second.stderr);
    assert.match(
      second.stderr,
      /config error: relay\.queue_group .*group a\.b, whose queue tasks-a_b/,
    );
    // The first group's queue still takes its own tasks.
    await ops.publishNow("action.tasks.a_b", task("qn-1", 0));
    await waitFor(
      async () =>
        about(await audit(join(dir.path, "q-n1")), "instruction.executed", "qn-1").length > 0,
      30_000,
      "qn-1 run by group a_b",
    );
  } finally {
    await ops.close();
    await first.stop("SIGKILL");
    await relay.stop("SIGKILL");
    await nats.stop();
    await dir.remove();
  }
});
