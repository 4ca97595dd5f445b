/**
 * The per-publisher topic bound (`max_topics_per_principal`) on a real relay: one credential
 * that fills its share is refused (403 naming the setting, counted in /metrics, logged once,
 * without the topic or payload) while another credential and the admin still create topics and
 * existing topics keep taking publishes; a `sqlite:` store keeps each publisher's count across
 * a restart, and a database from before the bound credits its topics to their publishers.
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { command, type RelayConfig } from "../../../cmd/relay.ts";
import type { DeepPartial } from "../../../core/config/mod.ts";
import type { Service } from "../../../core/http/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { Counter, Registry } from "../../../core/metrics/mod.ts";
import { RelayClient } from "../../../core/relay/mod.ts";
import { REFUSAL_LOG_INTERVAL_MS, TopicRefusals } from "../../../core/relay/refusals.ts";
import { TopicLimitError } from "../../../core/relay/store.ts";
import { tempDir } from "../../helpers.ts";
import { publish as post } from "./relay_helpers.ts";

const SENSOR_A = "sensor-a-token-0001";
const SENSOR_B = "sensor-b-token-0002";
const ADMIN = "admin-token-00000003";
const TOKENS = {
  [SENSOR_A]: ["publish:sensor.*"],
  [SENSOR_B]: ["publish:sensor.*"],
  [ADMIN]: ["*"],
};
const idOf = (token: string) =>
  `token:${createHash("sha256").update(token).digest("hex").slice(0, 8)}`;

/** A relay in-process with its warning lines collected. */
async function startRelay(overrides: DeepPartial<RelayConfig>) {
  const lines: string[] = [];
  const log = createLogger({ service: "relay-test", level: "warn", sink: (l) => lines.push(l) });
  const relay: Service = await command.start(
    command.resolve({ port: 0, workers: 1, compat: "iatp", tokens: TOKENS, ...overrides }),
    { log },
  );
  return { relay, lines };
}

function as(relay: Service, token: string) {
  return (topic: string, payload: Record<string, unknown> = { v: 1 }) =>
    post(relay.url, topic, payload, { authorization: `Bearer ${token}` });
}

async function refusals(relay: Service, setting: string): Promise<number> {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  const m = new RegExp(
    `^iatp_relay_topic_refusals_total\\{setting="${setting}"[^}]*\\} (\\d+)`,
    "m",
  )
    .exec(text);
  return m ? Number(m[1]) : 0;
}

Deno.test("one publisher that fills its share of topics is refused; others, the admin and existing topics are not", async () => {
  const { relay, lines } = await startRelay({ max_topics: 8, max_topics_per_principal: 3 });
  try {
    const a = as(relay, SENSOR_A), b = as(relay, SENSOR_B), admin = as(relay, ADMIN);
    for (let i = 0; i < 3; i++) assert.equal((await a(`sensor.a${i}`)).status, 201);
    for (let i = 0; i < 4; i++) {
      const r = await a(`sensor.flood${i}`, { secret_marker: "payload-never-logged" });
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.equal(r.body.setting, "max_topics_per_principal");
      assert.equal(r.body.limit, 3);
      assert.match(String(r.body.error), /max_topics_per_principal/);
      assert.equal(typeof r.body.request_id, "string");
    }
    // Topics that exist take its publishes, its own and others'.
    assert.equal((await a("sensor.a0")).status, 201);
    assert.equal((await b("sensor.b0")).status, 201);
    assert.equal(
      (await a("sensor.b0")).status,
      201,
      "publishing to another's topic is no creation",
    );
    assert.equal((await b("sensor.b1")).status, 201);
    assert.equal((await admin("ops.x")).status, 201);
    assert.equal((await admin("ops.y")).status, 201);
    assert.equal((await a("sensor.flood9")).status, 403, "a's share is still used up");

    assert.equal(await refusals(relay, "max_topics_per_principal"), 5);
    const refused = lines.filter((l) => l.includes("publish refused"));
    assert.equal(refused.length, 1, "one line per principal per interval:\n" + refused.join("\n"));
    assert.match(refused[0], new RegExp(idOf(SENSOR_A)));
    assert.match(refused[0], /max_topics_per_principal/);
    assert.doesNotMatch(lines.join("\n"), /sensor\.flood|payload-never-logged|sensor-a-token/);

    // max_topics still bounds them all (7 topics exist; 1 more fits), and says so.
    assert.equal((await b("sensor.b2")).status, 201);
    const full = await admin("ops.z");
    assert.equal(full.status, 507);
    assert.equal(full.body.setting, "max_topics");
    assert.equal(full.body.limit, 8);
    assert.equal(await refusals(relay, "max_topics"), 1);
    const listed = await (await fetch(`${relay.url}/topics`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    })).json() as { topics: unknown[] };
    assert.equal(listed.topics.length, 8);
  } finally {
    await relay.close();
  }
});

// 403 past the publisher's share, 507 past the relay's max_topics: neither is retried.
for (
  const [bound, settings] of [
    ["its share (403)", { max_topics_per_principal: 1 }],
    ["the relay full (507)", { max_topics: 1 }],
  ] as const
) {
  Deno.test(`a client whose new topic finds ${bound} drops that event and goes on sending to existing topics`, async () => {
    const { relay } = await startRelay(settings);
    const client = new RelayClient({ url: relay.url, token: SENSOR_A, maxAttempts: 1 });
    try {
      // In order, one at a time: a refusal that were retried would hold back the events after it.
      client.publish("sensor.cpu", { n: 1 });
      client.publish("sensor.new", { n: 2 });
      client.publish("sensor.cpu", { n: 3 });
      await client.flush(10_000);
      const stats = client.stats();
      assert.equal(stats.sent, 2, JSON.stringify(stats));
      assert.equal(stats.dropped, 1, JSON.stringify(stats));
      assert.equal(stats.queued, 0);
      const listed = await (await fetch(`${relay.url}/topics`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      })).json() as { topics: Array<{ topic: string; count: number }> };
      assert.deepEqual(listed.topics.map((t) => [t.topic, t.count]), [["sensor.cpu", 2]]);
    } finally {
      await client.close();
      await relay.close();
    }
  });
}

Deno.test("an open relay bounds anonymous publishes by max_topics alone", async () => {
  const { relay } = await startRelay({ tokens: {}, max_topics_per_principal: 2, max_topics: 4 });
  try {
    for (const t of ["t1", "t2", "t3", "t4"]) {
      assert.equal((await post(relay.url, t, {})).status, 201, t);
    }
    const r = await post(relay.url, "t5", {});
    assert.equal(r.status, 507);
    assert.equal(r.body.setting, "max_topics");
    assert.equal((await post(relay.url, "t1", {})).status, 201);
  } finally {
    await relay.close();
  }
});

Deno.test("a sqlite relay keeps each publisher's topic count across a restart", async () => {
  const dir = await tempDir();
  const store = `sqlite:${dir.path}/relay.db`;
  try {
    let { relay } = await startRelay({ store, max_topics_per_principal: 2 });
    try {
      const a = as(relay, SENSOR_A);
      assert.equal((await a("sensor.a0")).status, 201);
      assert.equal((await a("sensor.a1")).status, 201);
      assert.equal((await a("sensor.a2")).status, 403);
      assert.equal((await as(relay, SENSOR_B)("sensor.b0")).status, 201);
    } finally {
      await relay.close();
    }
    ({ relay } = await startRelay({ store, max_topics_per_principal: 2 }));
    try {
      const a = as(relay, SENSOR_A), b = as(relay, SENSOR_B);
      const r = await a("sensor.a2");
      assert.equal(r.status, 403, "the count came back with the topics");
      assert.equal(r.body.setting, "max_topics_per_principal");
      assert.equal((await a("sensor.a1")).status, 201);
      assert.equal((await b("sensor.b1")).status, 201, "b had one of two");
      assert.equal((await b("sensor.b2")).status, 403);
      assert.equal((await as(relay, ADMIN)("ops.x")).status, 201);
    } finally {
      await relay.close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("a sqlite database from before the bound credits each topic to its oldest event's publisher", async () => {
  const dir = await tempDir();
  const file = `${dir.path}/relay.db`;
  const store = `sqlite:${file}`;
  try {
    let { relay } = await startRelay({ store });
    try {
      const a = as(relay, SENSOR_A), b = as(relay, SENSOR_B);
      assert.equal((await a("sensor.a0")).status, 201);
      assert.equal((await a("sensor.a1")).status, 201);
      assert.equal((await b("sensor.b0")).status, 201);
      assert.equal((await a("sensor.b0")).status, 201); // b's topic, a's event after b's
    } finally {
      await relay.close();
    }
    // The topics table as an older relay wrote it: no creator column.
    const db = new DatabaseSync(file);
    db.exec("ALTER TABLE topics DROP COLUMN creator");
    db.close();
    ({ relay } = await startRelay({ store, max_topics_per_principal: 2 }));
    try {
      const a = as(relay, SENSOR_A), b = as(relay, SENSOR_B);
      assert.equal((await a("sensor.a2")).status, 403, "a0 and a1 are a's");
      assert.equal((await b("sensor.b1")).status, 201, "b0 is b's alone");
      assert.equal((await b("sensor.b2")).status, 403);
    } finally {
      await relay.close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("topic refusals: logged once per principal per interval with the count since, always counted", () => {
  const lines: string[] = [];
  const log = createLogger({ service: "t", level: "warn", sink: (l) => lines.push(l) });
  const registry = new Registry();
  const counter = new Counter({
    name: "refusals_total",
    help: "x",
    labelNames: ["setting"],
    registers: [registry],
  });
  const refusals = new TopicRefusals(log, counter);
  const err = new TopicLimitError("max_topics_per_principal", 3);
  refusals.refused(err, "a", 0);
  refusals.refused(err, "a", 1);
  refusals.refused(err, "a", REFUSAL_LOG_INTERVAL_MS - 1);
  refusals.refused(err, undefined, 2);
  assert.equal(lines.length, 2);
  assert.match(lines[0], /principal[=":]+a\b/);
  assert.match(lines[1], /anonymous/);
  refusals.refused(err, "a", REFUSAL_LOG_INTERVAL_MS);
  assert.equal(lines.length, 3);
  assert.match(lines[2], /refused[=":]+3\b/, "this one and the two not logged");
  assert.equal(counter.get({ setting: "max_topics_per_principal" }), 5);
});
