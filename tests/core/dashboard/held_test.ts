/**
 * A viewer's questions to the dashboard's feed (its newest event, how many it sees, a position
 * it resumes or pages from) ask the viewer about each held topic at most, never about each held
 * event: a viewer who sees none of a full ring costs no walk of it. Against a real relay.
 */
import assert from "node:assert/strict";
import { searchEvents, type Viewer } from "../../../core/dashboard/event.ts";
import { DashboardFeed } from "../../../core/dashboard/feed.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { publish, startRelay } from "../relay/relay_helpers.ts";
import { waitFor } from "../../helpers.ts";

const log = createLogger({ service: "t", level: "error", sink: () => {} });
const EVENTS = 300;
const TOPICS = ["sensor.a", "sensor.b", "sensor.c"];

/** A viewer that sees only `seen` and counts the topics it is asked about. */
function countingViewer(seen: string, sees?: string): Viewer & { asked: number } {
  const v = {
    id: "v",
    asked: 0,
    authenticated: true,
    maySee(topic: string) {
      v.asked++;
      return topic === seen;
    },
    ...(sees === undefined ? {} : { sees }),
  };
  return v;
}

Deno.test("a viewer's newest event, count and positions ask per held topic, never per held event", async () => {
  const relay = await startRelay();
  const feed = new DashboardFeed({
    relayUrl: relay.url,
    topics: ["sensor.*"],
    history: 10_000,
    queueBytes: 64 * 1024,
    maxClients: 4,
    log,
  });
  try {
    const ids: string[] = [];
    for (let i = 0; i < EVENTS; i++) {
      ids.push(String((await publish(relay.url, TOPICS[i % 3], { i })).body.id));
    }
    await waitFor(() => feed.events().length === EVENTS, 15_000, "the feed holds every event");
    for (const sees of [undefined, "class-none"]) {
      const none = countingViewer("sensor.none", sees);
      assert.equal(feed.relay(none).last_event, undefined);
      assert.deepEqual(feed.visible(none), { count: 0, newest: -1 });
      assert.equal(feed.indexOf(none, ids[5]), -1, "a hidden event is no position");
      const found = searchEvents(feed, none, { before: ids[5], limit: 50 });
      assert.deepEqual(found, { events: [], more: false });
      const stream = feed.open(none, ids[5], { retryMs: 1000, backlog: 0 });
      assert.ok(stream);
      await stream.body().cancel();
      // Three held topics: each question asks about each at most (a class keeps its answers).
      assert.ok(none.asked <= 6 * TOPICS.length, `asked ${none.asked} times`);
    }
    const b = countingViewer("sensor.b", "class-b");
    const newest = feed.visible(b);
    assert.equal(feed.events()[newest.newest].id, ids[EVENTS - 2]);
    assert.equal(newest.count, EVENTS / 3);
    assert.equal(feed.indexOf(b, ids[4]), 4, "a visible event is its position");
    assert.equal(feed.relay(b).last_event, feed.events()[EVENTS - 2].ts);
    assert.ok(b.asked <= 2 * TOPICS.length, `asked ${b.asked} times`);
    // A search walks only the events of the topics it may see: the others are not looked at.
    const mine = ids.filter((_, i) => i % 3 === 1).reverse();
    const search = (q: Partial<Parameters<typeof searchEvents>[2]>) =>
      searchEvents(feed, b, { limit: 200, ...q }).events.map((e) => e.id);
    assert.deepEqual(search({}), mine);
    assert.deepEqual(search({ before: ids[151] }), mine.slice(mine.indexOf(ids[151]) + 1));
    assert.deepEqual(search({ before: ids[150] }), mine, "a hidden position is unknown");
    assert.deepEqual(search({ q: "no such text" }), []);
    assert.deepEqual(search({ limit: 3, before: ids[151] }), mine.slice(50, 53));
    assert.ok(b.asked <= 4 * TOPICS.length, `asked ${b.asked} times`);
  } finally {
    await feed.close();
    await relay.close();
  }
});
