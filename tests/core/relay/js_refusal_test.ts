/**
 * The relay on a real nats-server whose stream is changed under it: a publish the stream refuses
 * for good is answered at once (within a bounded wait far below `--nats-timeout`) with what
 * happened: 507 for a full stream or topic (`discard: new` with `max_msgs`, `max_bytes`,
 * `max_msgs_per_subject`), 413 for an event larger than its `max_msg_size`, 503 with Retry-After
 * for a stream sealed, deleted or stripped of the relay's subjects. Each refusal is counted in
 * `/metrics`, logged at most once a minute per reason, shown on `/health` while the whole stream
 * refuses; the relay client drops a 507 and retries a 503; a server that does not answer is
 * still waited for until the deadline.
 * @module
 */
import assert from "node:assert/strict";
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { command, type RelayConfig } from "../../../cmd/relay.ts";
import type { DeepPartial } from "../../../core/config/mod.ts";
import type { Service } from "../../../core/http/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { Counter } from "../../../core/metrics/mod.ts";
import { RelayClient, RelayError } from "../../../core/relay/mod.ts";
import { StreamRefusedError } from "../../../core/relay/js_refusal.ts";
import { REFUSAL_LOG_INTERVAL_MS, StreamRefusals } from "../../../core/relay/refusals.ts";
import {
  type NatsFixture,
  natsMissing,
  startConfiguredNats,
  startNats,
} from "../../support/nats.ts";
import { freeze, waitFor } from "../../helpers.ts";
import { exchange, json, type RawResponse } from "../../support/raw_http.ts";
import { healths, startJsRelay } from "./relay_helpers.ts";

const ignore = natsMissing !== undefined;
const STREAM = "IATP_RELAY";
/** Far longer than any answer here may take: a publish that waits for it fails the test. */
const NATS_TIMEOUT_MS = 60_000;
/** The test's own bound on one publish. */
const ANSWER_WITHIN_MS = 20_000;
const REFUSED_LINE = "publish refused by the relay's stream";

interface Answer {
  status: number;
  body: Record<string, unknown>;
  retryAfter: string | null;
}

async function post(url: string, topic: string, payload: unknown): Promise<Answer> {
  const res = await fetch(`${url}/publish`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic, payload }),
    signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
  });
  return { status: res.status, body: await res.json(), retryAfter: res.headers.get("retry-after") };
}

/** A relay in-process on the fixture's server, with its warning lines collected. */
async function startRelay(nats: NatsFixture, overrides: DeepPartial<RelayConfig> = {}) {
  const lines: string[] = [];
  const log = createLogger({ service: "relay-test", level: "warn", sink: (l) => lines.push(l) });
  const relay: Service = await command.start(
    command.resolve({
      port: 0,
      workers: 1,
      compat: "iatp",
      store: nats.url,
      nats: { timeout: NATS_TIMEOUT_MS },
      ...overrides,
    }),
    { log },
  );
  return { relay, lines };
}

/** Changes the relay's stream as an operator would. */
async function change(jsm: JetStreamManager, edit: Partial<StreamConfig>) {
  const info = await jsm.streams.info(STREAM);
  return await jsm.streams.update(STREAM, { ...info.config, ...edit });
}

async function refusals(url: string, reason: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^iatp_relay_stream_refusals_total\\{reason="${reason}"[^}]*\\} (\\d+)`, "m")
    .exec(text);
  return m ? Number(m[1]) : 0;
}

/** A publish on a fresh connection (the kernel picks the isolate per connection). */
async function postFresh(port: number, topic: string, payload: unknown): Promise<RawResponse> {
  const body = JSON.stringify({ topic, payload });
  const req = `POST /publish HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n` +
    `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
  const r = await exchange(port, req, { timeoutMs: ANSWER_WITHIN_MS });
  if (!r) throw new Error("no response");
  return r;
}

/** `iatp_worker_http_requests_total` per isolate, from /metrics. */
function perWorker(metrics: string): Map<string, number> {
  const out = new Map<string, number>();
  for (
    const m of metrics.matchAll(/^iatp_worker_http_requests_total\{[^}]*worker="(\d+)"\} (\d+)/gm)
  ) {
    out.set(m[1], Number(m[2]));
  }
  return out;
}

async function health(url: string): Promise<Record<string, unknown>> {
  return await (await fetch(`${url}/health`)).json();
}

Deno.test({
  name: "jetstream refusal: a stream made full under the relay (discard new with max_msgs, then " +
    "max_bytes) answers 507 at once naming the bound; counted, logged once, /health degraded " +
    "until a publish is stored again; the relay client drops the event",
  ignore,
}, async () => {
  const nats = await startNats();
  const { relay, lines } = await startRelay(nats);
  const client = new RelayClient({ url: relay.url, maxAttempts: 3, backoffMinMs: 10 });
  try {
    const jsm = await nats.manager();
    for (let n = 1; n <= 3; n++) assert.equal((await post(relay.url, "t", { n })).status, 201);
    const full = await change(jsm, { discard: "new" as StreamConfig["discard"], max_msgs: 3 });
    assert.equal(full.state.messages, 3);
    for (let n = 0; n < 4; n++) {
      const r = await post(relay.url, "t", { secret_marker: "payload-never-logged" });
      assert.equal(r.status, 507, JSON.stringify(r.body));
      assert.equal(r.body.reason, "stream_full");
      assert.equal(r.body.stream_limit, "max_msgs");
      assert.match(String(r.body.error), /stream is full \(max_msgs/);
      assert.equal(typeof r.body.request_id, "string");
      assert.equal(r.retryAfter, null);
    }
    assert.equal(await refusals(relay.url, "stream_full"), 4);
    const logged = lines.filter((l) => l.includes(REFUSED_LINE));
    assert.equal(logged.length, 1, lines.join("\n"));
    assert.match(logged[0], /max_msgs/);
    assert.doesNotMatch(lines.join("\n"), /payload-never-logged|nats:\/\//);
    const degraded = await health(relay.url);
    assert.equal(degraded.status, "degraded");
    assert.match(String(degraded.reason), /^store: cannot write: the relay's stream is full/);

    // Retrying cannot help: the client drops the event, in both of its ways to publish.
    await assert.rejects(
      client.publishNow("t", { n: "now" }),
      (e) => e instanceof RelayError && e.status === 507 && e.permanent,
    );
    assert.ok(client.publish("t", { n: "queued" }));
    await waitFor(() => client.stats().dropped === 1, 10_000, "the client to drop the event");
    assert.equal(client.stats().queued, 0);

    await change(jsm, { max_msgs: -1 });
    assert.equal((await post(relay.url, "t", { n: 4 })).status, 201);
    assert.equal((await health(relay.url)).status, "ok");

    const bytes = (await jsm.streams.info(STREAM)).state.bytes;
    await change(jsm, { max_bytes: bytes });
    const r = await post(relay.url, "u", { n: 5 });
    assert.equal(r.status, 507, JSON.stringify(r.body));
    assert.equal(r.body.reason, "stream_full");
    assert.equal(r.body.stream_limit, "max_bytes");
  } finally {
    await client.close();
    await relay.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream refusal: an event larger than the stream's max_msg_size answers 413, a topic " +
    "full under discard_new_per_subject 507; smaller events and other topics still go, and " +
    "/health stays ok",
  ignore,
}, async () => {
  const nats = await startNats();
  const { relay, lines } = await startRelay(nats);
  try {
    const jsm = await nats.manager();
    assert.equal((await post(relay.url, "t", { n: 1 })).status, 201);
    await change(jsm, { max_msg_size: 1_024 });
    const big = await post(relay.url, "t", { pad: "x".repeat(4_000) });
    assert.equal(big.status, 413, JSON.stringify(big.body));
    assert.equal(big.body.reason, "message_too_large");
    assert.equal(big.body.stream_limit, "max_msg_size");
    assert.equal((await post(relay.url, "t", { n: 2 })).status, 201);

    await change(jsm, {
      discard: "new" as StreamConfig["discard"],
      max_msgs_per_subject: 2,
      discard_new_per_subject: true,
    });
    const topic = await post(relay.url, "t", { n: 3 });
    assert.equal(topic.status, 507, JSON.stringify(topic.body));
    assert.equal(topic.body.reason, "topic_full");
    assert.equal(topic.body.stream_limit, "max_msgs_per_subject");
    assert.equal((await post(relay.url, "other", { n: 1 })).status, 201);
    assert.equal((await health(relay.url)).status, "ok");
    assert.equal(await refusals(relay.url, "message_too_large"), 1);
    assert.equal(await refusals(relay.url, "topic_full"), 1);
    assert.equal(lines.filter((l) => l.includes(REFUSED_LINE)).length, 2, lines.join("\n"));
  } finally {
    await relay.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream refusal: while the stream is gone, the tail's interruptions are logged once a " +
    "minute, not at each retry",
  ignore,
}, async () => {
  const nats = await startNats();
  const { relay, lines } = await startRelay(nats);
  try {
    const jsm = await nats.manager();
    assert.equal((await post(relay.url, "t", { n: 1 })).status, 201);
    await jsm.streams.delete(STREAM);
    // The tail retries within 5 s each time (it logged each: 4-5 lines in these 10 s).
    await new Promise((r) => setTimeout(r, 10_000));
    const tail = lines.filter((l) => l.includes("relay stream tail interrupted"));
    assert.equal(tail.length, 1, lines.join("\n"));
  } finally {
    await relay.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream refusal: a stream sealed, deleted, or made again without the relay's " +
    "subjects answers 503 at once saying so, with Retry-After; the relay client retries it",
  ignore,
}, async () => {
  const nats = await startNats();
  const { relay } = await startRelay(nats);
  const client = new RelayClient({ url: relay.url, maxAttempts: 2, backoffMinMs: 10 });
  try {
    const jsm = await nats.manager();
    assert.equal((await post(relay.url, "t", { n: 1 })).status, 201);

    await change(jsm, { sealed: true });
    const sealed = await post(relay.url, "t", { n: 2 });
    assert.equal(sealed.status, 503, JSON.stringify(sealed.body));
    assert.equal(sealed.body.reason, "stream_sealed");
    assert.equal(sealed.retryAfter, "1");

    await jsm.streams.delete(STREAM);
    const gone = await post(relay.url, "t", { n: 3 });
    assert.equal(gone.status, 503, JSON.stringify(gone.body));
    assert.equal(gone.body.reason, "stream_gone");
    assert.match(String(gone.body.error), /stream no longer exists/);
    assert.equal(gone.retryAfter, "1");
    const degraded = await health(relay.url);
    assert.equal(degraded.status, "degraded");
    assert.match(String(degraded.reason), /stream no longer exists/);
    await assert.rejects(
      client.publishNow("t", { n: "now" }),
      (e) => e instanceof RelayError && e.status === 503 && !e.permanent,
    );

    await jsm.streams.add({ name: STREAM, subjects: ["elsewhere.>"] });
    // The last look at the stream serves the publishes of the next second.
    await waitFor(
      async () => {
        const r = await post(relay.url, "t", { n: 4 });
        assert.equal(r.status, 503, JSON.stringify(r.body));
        return r.body.reason === "stream_subjects";
      },
      10_000,
      "the relay to see the stream without its subjects",
    );
    assert.ok(await refusals(relay.url, "stream_gone") >= 1);
  } finally {
    await client.close();
    await relay.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream refusal: a NATS user the server does not let publish to the relay's subjects " +
    "is answered 503 at once saying so, with Retry-After, and /health says why",
  ignore,
}, async () => {
  // `relay` has the permissions docs/scale-out.md names; `api` may use the JetStream API (the
  // relay makes its stream and its tail) but not publish the events.
  const nats = await startConfiguredNats(`authorization {
  users = [
    { user: relay, password: relay-pw-s3cret, permissions: {
        publish: ["$JS.API.>", "_INBOX.>", "relay.>"], subscribe: ["_INBOX.>"] } }
    { user: api, password: api-pw-s3cret, permissions: {
        publish: ["$JS.API.>", "_INBOX.>"], subscribe: ["_INBOX.>"] } }
    { user: none, password: none-pw-s3cret, permissions: {
        publish: ["_INBOX.>"], subscribe: ["_INBOX.>"] } }
  ]
}`);
  // Without the JetStream API the relay does not start: a config error naming store.
  await assert.rejects(
    startRelay({ url: nats.url.replace("nats://", "nats://none:none-pw-s3cret@") } as NatsFixture),
    (e: Error) => /store .*Permissions Violation/.test(e.message) && !e.message.includes("s3cret"),
  );
  const allowed = await startRelay({
    url: nats.url.replace("nats://", "nats://relay:relay-pw-s3cret@"),
  } as NatsFixture);
  const url = nats.url.replace("nats://", "nats://api:api-pw-s3cret@");
  const { relay, lines } = await startRelay({ url } as NatsFixture);
  try {
    const stored = await post(allowed.relay.url, "t", { n: 0 });
    assert.equal(stored.status, 201, JSON.stringify(stored.body));
    const denied = await post(relay.url, "t", { n: 1 });
    assert.equal(denied.status, 503, JSON.stringify(denied.body));
    assert.equal(denied.body.reason, "engine_permission");
    assert.match(String(denied.body.error), /NATS user may not publish to the relay's subjects/);
    assert.equal(denied.retryAfter, "1");
    const degraded = await health(relay.url);
    assert.equal(degraded.status, "degraded");
    assert.match(String(degraded.reason), /may not publish/);
    assert.equal(await refusals(relay.url, "engine_permission"), 1);
    assert.ok(lines.some((l) => l.includes(REFUSED_LINE) && l.includes("engine_permission")));
    assert.ok(!lines.some((l) => l.includes("s3cret")), "the password was logged");
  } finally {
    await relay.close();
    await allowed.relay.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream refusal: a server that takes the publish and does not answer is still " +
    "waited for until --nats-timeout (503, engine did not acknowledge)",
  ignore,
}, async () => {
  const nats = await startNats();
  const { relay } = await startRelay(nats, { nats: { timeout: 1_000 } });
  const server = nats.nodes[0].process;
  try {
    assert.equal((await post(relay.url, "t", { n: 1 })).status, 201);
    await freeze(server.pid);
    const r = await post(relay.url, "t", { n: 2 });
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.match(String(r.body.error), /did not acknowledge/);
    assert.equal(r.body.reason, undefined);
    server.kill("SIGCONT");
    await waitFor(
      async () => (await post(relay.url, "t", { n: 3 })).status === 201,
      15_000,
      "publishes acknowledged once the server answers again",
    );
  } finally {
    try {
      server.kill("SIGCONT");
    } catch { /* gone */ }
    await relay.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream refusal: with --workers 2 every isolate answers a full stream 507 and the " +
    "refusals are counted once each in the relay's /metrics",
  ignore,
}, async () => {
  const nats = await startNats();
  const relay = await startJsRelay(nats.url, "--workers=2", "--nats-timeout=60s");
  try {
    const jsm = await nats.manager();
    assert.equal((await post(relay.url, "t", { n: 1 })).status, 201);
    await change(jsm, { discard: "new" as StreamConfig["discard"], max_msgs: 1 });
    const port = Number(new URL(relay.url).port);
    // Until both isolates answered some (a worker may start listening a moment after the main).
    let sent = 0;
    await waitFor(
      async () => {
        for (let n = 0; n < 8; n++, sent++) {
          const r = await postFresh(port, "t", { n });
          assert.equal(r.status, 507, r.body);
          assert.equal(json(r).reason, "stream_full");
          assert.equal(json(r).stream_limit, "max_msgs");
        }
        const served = perWorker(await (await fetch(`${relay.url}/metrics`)).text());
        return (served.get("1") ?? 0) > 0 && (served.get("0") ?? 0) > 0;
      },
      20_000,
      "publishes answered by both isolates",
    );
    assert.equal(await refusals(relay.url, "stream_full"), sent);
  } finally {
    await relay.stop();
    await nats.stop();
  }
});

Deno.test("stream refusals: logged once per reason per interval with the count since, always counted", () => {
  const lines: string[] = [];
  const log = createLogger({ service: "t", level: "warn", sink: (l) => lines.push(l) });
  const counter = new Counter({ name: "stream_refusals_total", help: "x", labelNames: ["reason"] });
  const refusals = new StreamRefusals(log, counter);
  const full = new StreamRefusedError("stream_full", "max_msgs");
  refusals.refused(full, 0);
  refusals.refused(full, 1);
  refusals.refused(full, REFUSAL_LOG_INTERVAL_MS - 1);
  refusals.refused(new StreamRefusedError("stream_gone"), 2);
  assert.equal(lines.length, 2);
  assert.match(lines[0], /stream_full/);
  assert.match(lines[1], /stream_gone/);
  refusals.refused(full, REFUSAL_LOG_INTERVAL_MS);
  assert.equal(lines.length, 3);
  assert.match(lines[2], /refused[=":]+3\b/, "this one and the two not logged");
  assert.equal(counter.get({ reason: "stream_full" }), 4);
  assert.equal(counter.get({ reason: "stream_gone" }), 1);
});

Deno.test({
  name: "jetstream refusal: with --workers 2 a full stream is degraded on every isolate, " +
    "whichever one a refused publish reached, until a publish is stored again",
  ignore,
}, async () => {
  const nats = await startNats();
  const relay = await startJsRelay(nats.url, "--workers=2");
  try {
    await waitFor(() => relay.stdout().includes("relay workers serving"), 30_000, "workers");
    const port = Number(new URL(relay.url).port);
    const jsm = await nats.manager();
    // Each round one publish is refused and one stored, each on whichever isolate the kernel
    // gives its connection: every isolate must follow the answers the others gave.
    assert.equal((await postFresh(port, "t", { n: 0 })).status, 201);
    for (let round = 0; round < 3; round++) {
      const held = (await jsm.streams.info(STREAM)).state.messages;
      await change(jsm, { discard: "new" as StreamConfig["discard"], max_msgs: held });
      const r = await postFresh(port, "t", { round, refused: true });
      assert.equal(r.status, 507, r.body);
      await waitFor(
        async () => (await healths(port, 20)).every((h) => h.status === "degraded"),
        15_000,
        "every isolate degraded while the stream is full",
      );
      for (const h of await healths(port, 20)) {
        assert.equal(h.status, "degraded");
        assert.match(String(h.reason), /^store: cannot write: the relay's stream is full/);
      }

      await change(jsm, { max_msgs: -1 });
      assert.equal((await postFresh(port, "t", { round, stored: true })).status, 201);
      await waitFor(
        async () => (await healths(port, 20)).every((h) => h.status === "ok"),
        15_000,
        "every isolate ok once a publish is stored",
      );
    }
  } finally {
    await relay.stop();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream refusal: a retried publish the full stream had stored already (the engine's " +
    "duplicate, through another replica) is answered as the first, and /health stays degraded",
  ignore,
}, async () => {
  const nats = await startNats();
  const first = await startRelay(nats);
  const second = await startRelay(nats);
  const keyed = (url: string, key: string) =>
    fetch(`${url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify({ topic: "t", payload: { key } }),
      signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
    });
  try {
    const stored = await keyed(first.relay.url, "k-1");
    assert.equal(stored.status, 201);
    const { seq } = await stored.json();
    const jsm = await nats.manager();
    await change(jsm, { discard: "new" as StreamConfig["discard"], max_msgs: 1 });
    assert.equal((await post(second.relay.url, "t", { n: 2 })).status, 507);
    assert.equal((await health(second.relay.url)).status, "degraded");

    // The first relay's answer was lost: the publisher retries through the second one.
    const retried = await keyed(second.relay.url, "k-1");
    assert.equal(retried.status, 201);
    assert.equal((await retried.json()).seq, seq);
    assert.equal(retried.headers.get("idempotent-replayed"), "true");
    const still = await health(second.relay.url);
    assert.equal(still.status, "degraded", JSON.stringify(still));
    assert.match(String(still.reason), /^store: cannot write: the relay's stream is full/);

    await change(jsm, { max_msgs: -1 });
    assert.equal((await post(second.relay.url, "t", { n: 3 })).status, 201);
    assert.equal((await health(second.relay.url)).status, "ok");
  } finally {
    await second.relay.close();
    await first.relay.close();
    await nats.stop();
  }
});
