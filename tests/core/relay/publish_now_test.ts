/**
 * A publish to a local store answers at once: the event is stored and offered to this isolate's
 * subscribers before `publishEvent` returns, with no promise in between; a refusal of the store
 * is still its answer (507 thrown, no sequence used).
 * @module
 */
import assert from "node:assert/strict";
import { HttpError } from "../../../core/errors/mod.ts";
import { createLogger, LogEvery } from "../../../core/log/mod.ts";
import { Counter } from "../../../core/metrics/mod.ts";
import { Hub } from "../../../core/relay/hub.ts";
import { MemoryStore } from "../../../core/relay/memory_store.ts";
import { publishEvent } from "../../../core/relay/publish.ts";
import { TopicRefusals } from "../../../core/relay/refusals.ts";
import type { RelayContext } from "../../../core/relay/routes.ts";
import { FlushRounds, SseSubscriber } from "../../../core/relay/stream/mod.ts";
import { TopicFilter } from "../../../core/topic/mod.ts";
import { relayRawRoutes } from "../../../core/relay/raw_routes.ts";
import type { RawRequest, RequestHead } from "../../../core/http/mod.ts";

function context() {
  const counts = { published: 0, delivered: 0 };
  const store = new MemoryStore({ maxEventsPerTopic: 10, maxAgeMs: 0, maxTopics: 1 });
  const log = createLogger({ service: "t", sink: () => {} });
  const refused = new Counter({ name: "refused_total", help: "x", labelNames: ["setting"] });
  const ctx = {
    opts: { compat: "iatp" },
    store,
    hub: new Hub({ onDelivered: (n) => counts.delivered += n }),
    log,
    metrics: {
      published: { inc: () => counts.published++ },
      delivered: { inc: (n = 1) => counts.delivered += n },
    },
    refusals: new TopicRefusals(log, refused),
    faultLogs: { unacked: new LogEvery(), unstored: new LogEvery() },
  } as unknown as RelayContext;
  return { ctx, store, counts, refused };
}

Deno.test("a publish to a local store is stored and offered before publishEvent returns", async () => {
  const { ctx, store, counts } = context();
  const rounds = new FlushRounds();
  const sub = new SseSubscriber({ rounds });
  sub.goLive();
  ctx.hub.add(sub, new TopicFilter(["t.a"]));
  const a = publishEvent(ctx, "t.a", '{"x":1}', undefined, "rid");
  assert.ok(!(a instanceof Promise), "answered at once");
  assert.equal(a.status, 201);
  assert.equal(a.body.seq, 1);
  assert.equal(store.lastSeq, 1);
  assert.equal(counts.published, 1);
  assert.equal(counts.delivered, 0, "counted as the round hands it to its subscriber");
  assert.ok(rounds.due > 0, "a flush round is due, with the event held for it");
  await new Promise((r) => setTimeout(r, 20)); // the round: no answer head yet, so it waits
  assert.ok(sub.batched > 0, "the subscriber holds the event");
  assert.equal(counts.delivered, 1);
  sub.end("client");
});

Deno.test("a publish its local store refuses throws 507 at once and uses no sequence", () => {
  const { ctx, store, counts, refused } = context();
  publishEvent(ctx, "t.a", "{}", undefined, "rid");
  assert.throws(
    () => publishEvent(ctx, "t.b", "{}", undefined, "rid"),
    (e) => e instanceof HttpError && e.status === 507 && e.extra.setting === "max_topics",
  );
  assert.equal(store.lastSeq, 1);
  assert.equal(counts.published, 1);
  assert.equal(refused.get({ setting: "max_topics" }), 1);
});

/** A publish's head and body as the connection hands them to the relay's raw route. */
function rawPublish(body: string, headers: Array<[string, string]> = []) {
  const bytes = new TextEncoder().encode(body);
  const head: RequestHead = {
    method: "POST",
    target: "/publish",
    minor: 1,
    headers: [["content-length", String(bytes.length)], ...headers],
    host: "127.0.0.1",
    contentLength: bytes.length,
    keepAlive: true,
    expectContinue: false,
  };
  // As the connection's request: the body already buffered, read once.
  let read = false;
  const req: RawRequest = {
    method: head.method,
    target: head.target,
    headers: head.headers,
    header: (name) => head.headers.find(([n]) => n === name)?.[1] ?? null,
    bodyNow: () => read ? undefined : (read = true, bytes),
    body: () =>
      read ? Promise.reject(new TypeError("read")) : (read = true, Promise.resolve(bytes)),
  };
  return { head, req };
}

Deno.test("the raw path answers a publish with its body here at once, CORS fields and refusals too", () => {
  const { ctx, store } = context();
  const c = ctx as unknown as { auth: unknown; opts: Record<string, unknown> };
  c.auth = { enabled: false };
  const origins = ["https://app.example"];
  const routes = relayRawRoutes(ctx, origins);
  const origin: [string, string] = ["origin", "https://app.example"];
  const ok = rawPublish('{"topic":"t.a","payload":{"x":1}}', [origin]);
  const a = routes("POST", "/publish", ok.head)!.serve(ok.req, "rid");
  assert.ok(!(a instanceof Promise), "answered at once");
  assert.equal(a.status, 201);
  assert.equal(JSON.parse(String(a.body)).seq, 1);
  assert.equal(store.lastSeq, 1);
  assert.ok(a.headers.some(([n]) => n.toLowerCase() === "access-control-allow-origin"));
  // A refusal of the route (bad JSON) is also at once, with its envelope and CORS fields.
  const bad = rawPublish("{", [origin]);
  const r = routes("POST", "/publish", bad.head)!.serve(bad.req, "rid");
  assert.ok(!(r instanceof Promise), "refused at once");
  assert.equal(r.status, 400);
  assert.ok(r.headers.some(([n]) => n.toLowerCase() === "access-control-allow-origin"));
  assert.equal(store.lastSeq, 1);
});
