/**
 * What each viewer is answered about the events the dashboard holds, over real sockets, as
 * events arrive and the oldest go (by count and by bytes): its count, its newest event (the
 * state's `last_id`, the relay's `last_event`, the events page's position), its pages, and the
 * positions it pages back and resumes from; a hidden or evicted event's id answers as an unknown
 * one. Viewers of the same scopes share what the dashboard keeps of them (`viewer_classes`),
 * and a viewer whose summary went is summarized again. And one answer's bound
 * (`response_bytes`): past it fewer events, with the cursor to the rest.
 */
import assert from "node:assert/strict";
import { openStream, publish, startRelay } from "../core/relay/relay_helpers.ts";
import { waitFor } from "../helpers.ts";
import { issuerFor, startDashboard, state } from "./dashboard_helpers.ts";

type Headers = Record<string, string>;
interface Held {
  id: string;
  topic: string;
  tx: string;
}
interface Seen {
  id: string;
  topic: string;
  ts: string;
}

const json = async (url: string, headers: Headers) => {
  const res = await fetch(url, { headers });
  assert.equal(res.status, 200, `${url}: ${res.status}`);
  return await res.json();
};
const idsOf = (events: Array<{ id: string }>) => events.map((e) => e.id);

/** Every answer `headers` gets about the held events, against what it may see of `held`. */
async function checkViewer(
  url: string,
  headers: Headers,
  maySee: (topic: string) => boolean,
  held: Held[],
  all: Seen[],
  gone: string[],
  what: string,
) {
  const mine = held.filter((e) => maySee(e.topic));
  const newest = mine.at(-1);
  const ts = newest ? all.find((e) => e.id === newest.id)!.ts : undefined;
  const s = await state(url, headers);
  assert.equal(s.events, mine.length, `${what}: count`);
  assert.equal(s.last_id, newest?.id ?? null, `${what}: last_id`);
  assert.equal(s.relay.last_event, ts, `${what}: last_event`);
  const o = await json(`${url}/api/overview`, headers);
  assert.equal(o.events, mine.length, `${what}: overview count`);
  assert.equal(o.relay.last_event, ts, `${what}: overview last_event`);
  const html = await (await fetch(`${url}/activity`, { headers })).text();
  assert.equal(/data-last-id="([^"]*)"/.exec(html)?.[1], newest?.id ?? "", `${what}: page`);
  const newestFirst = mine.map((e) => e.id).reverse();
  const page = async (before?: string) =>
    idsOf(
      (await json(`${url}/api/events?limit=200${before ? `&before=${before}` : ""}`, headers))
        .events,
    );
  assert.deepEqual(await page(), newestFirst, `${what}: events`);
  for (const e of held) {
    const want = maySee(e.topic) ? newestFirst.slice(newestFirst.indexOf(e.id) + 1) : newestFirst; // a hidden position answers as an unknown one
    assert.deepEqual(await page(e.id), want, `${what}: before ${e.topic} ${e.id}`);
  }
  for (const id of gone) assert.deepEqual(await page(id), newestFirst, `${what}: evicted ${id}`);
  // Each transaction's events this viewer may see, by kind, oldest first.
  for (const tx of ["tx-0", "tx-1"]) {
    const t = await json(`${url}/tx/${tx}?format=json`, headers);
    const of = (pred: (topic: string) => boolean) =>
      mine.filter((e) => e.tx === tx && pred(e.topic)).map((e) => e.id);
    assert.deepEqual(
      [idsOf(t.intents), idsOf(t.decisions), idsOf(t.others)],
      [
        of((x) => x === "access.intent"),
        of((x) => x === "access.decision"),
        of((x) => !x.startsWith("access.")),
      ],
      `${what}: ${tx}`,
    );
  }
  // Resuming: after a visible position, the events after it; any other id is a reset.
  const resume = async (since: string, reset: boolean, want: string[]) => {
    const s = await openStream(`${url}/events?since=${encodeURIComponent(since)}`, headers);
    try {
      await s.until(
        (ev) =>
          ev.some((x) => x.event === "status") &&
          ev.filter((x) => x.event === "message").length >= want.length,
        15_000,
        `${what}: resume from ${since}`,
      );
      assert.equal(s.events.some((x) => x.event === "reset"), reset, `${what}: reset ${since}`);
      assert.deepEqual(s.messages().map((m) => m.id), want, `${what}: resume ${since}`);
    } finally {
      await s.close();
    }
  };
  const oldestFirst = mine.map((e) => e.id);
  const hidden = held.find((e) => !maySee(e.topic));
  if (mine.length > 1) await resume(mine[0].id, false, oldestFirst.slice(1));
  if (hidden && mine.length > 0) await resume(hidden.id, true, oldestFirst);
  if (gone.length > 0 && mine.length > 0) await resume(gone[0], true, oldestFirst);
}

for (const classes of [1, 64]) {
  Deno.test(`each viewer's count, newest event and positions follow events kept and evicted by count (viewer_classes ${classes})`, async () => {
    const relay = await startRelay();
    const { publicKey, mint } = await issuerFor();
    const history = 6;
    const dash = await startDashboard(relay.url, {
      auth_keys: [publicKey],
      history,
      viewer_classes: classes,
    });
    const bearer = async (sub: string, scope: string) => ({
      authorization: `Bearer ${await mint(sub, ["dashboard:view", scope])}`,
    });
    const all = await bearer("ops", "subscribe:*");
    const viewers: Array<[string, Headers, (t: string) => boolean]> = [
      ["all", all, () => true],
      ["sensors", await bearer("s1", "subscribe:sensor.*"), (t) => t.startsWith("sensor.")],
      // The same scopes as the previous viewer, another subject: they share one summary.
      ["sensors too", await bearer("s2", "subscribe:sensor.*"), (t) => t.startsWith("sensor.")],
      ["access", await bearer("a1", "subscribe:access.*"), (t) => t.startsWith("access.")],
      ["none", await bearer("n1", "subscribe:none.*"), () => false],
    ];
    const held: Held[] = [];
    const gone: string[] = [];
    const add = async (...topics: string[]) => {
      for (const topic of topics) {
        const tx = `tx-${(held.length + gone.length) % 2}`;
        const id = String((await publish(relay.url, topic, { tx_id: tx, v: 1 })).body.id);
        held.push({ id, topic, tx });
        if (held.length > history) gone.push(held.shift()!.id);
      }
      const last = held.at(-1)!.id;
      await waitFor(async () => (await state(dash.url, all)).last_id === last, 15_000, last);
    };
    const check = async (step: string) => {
      const seen = (await json(`${dash.url}/api/events?limit=200`, all)).events as Seen[];
      assert.deepEqual(idsOf(seen), held.map((e) => e.id).reverse(), `${step}: the ring`);
      for (const [name, headers, maySee] of viewers) {
        await checkViewer(dash.url, headers, maySee, held, seen, gone, `${step}, ${name}`);
      }
    };
    try {
      await check("empty");
      await add("sensor.a", "access.intent", "sensor.b", "access.decision", "access.intent");
      await check("mixed");
      await add("sensor.a", "sensor.a", "sensor.b", "sensor.a", "sensor.b", "sensor.a");
      await check("access evicted");
      await add("access.intent", "sensor.c", "access.decision", "access.intent");
      await check("mixed again");
      await add(...Array<string>(history).fill("access.intent"));
      await check("sensors evicted");
    } finally {
      await dash.close();
      await relay.close();
    }
  });
}

Deno.test("each viewer's count and newest event follow events evicted by bytes", async () => {
  const relay = await startRelay();
  const { publicKey, mint } = await issuerFor();
  const dash = await startDashboard(relay.url, {
    auth_keys: [publicKey],
    history_bytes: 64 * 1024,
  });
  const bearer = async (sub: string, scope: string) => ({
    authorization: `Bearer ${await mint(sub, ["dashboard:view", scope])}`,
  });
  const all = await bearer("ops", "subscribe:*");
  const access = await bearer("a1", "subscribe:access.*");
  const sensors = await bearer("s1", "subscribe:sensor.*");
  try {
    const small = String((await publish(relay.url, "access.intent", { tx_id: "t" })).body.id);
    await waitFor(async () => (await state(dash.url, all)).last_id === small, 15_000, "small");
    assert.equal((await state(dash.url, access)).last_id, small);
    const blob = "x".repeat(20_000);
    let last = "";
    for (let i = 0; i < 6; i++) {
      last = String((await publish(relay.url, "sensor.big", { i, blob })).body.id);
    }
    await waitFor(async () => (await state(dash.url, all)).last_id === last, 15_000, "big");
    const kept = (await state(dash.url, all)).events;
    assert.ok(kept >= 2 && kept <= 3, `20 KB events within 64 KiB: ${kept} kept`);
    const a = await state(dash.url, access);
    assert.deepEqual([a.events, a.last_id, a.relay.last_event], [0, null, undefined]);
    assert.deepEqual(
      (await json(`${dash.url}/api/events?before=${small}`, access)).events,
      [],
      "the evicted event's position is unknown",
    );
    const s = await state(dash.url, sensors);
    assert.deepEqual([s.events, s.last_id], [kept, last]);
  } finally {
    await dash.close();
    await relay.close();
  }
});

Deno.test("an answer holds at most response_bytes of events: fewer, with the cursor to the rest", async () => {
  const relay = await startRelay();
  const dash = await startDashboard(relay.url, { response_bytes: 64 * 1024 });
  try {
    const blob = "x".repeat(20_000);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      ids.push(
        String((await publish(relay.url, "sensor.big", { tx_id: "tx-big", i, blob })).body.id),
      );
    }
    await waitFor(async () => (await state(dash.url)).last_id === ids.at(-1), 15_000, "feed");
    // Events: newest first, each answer within the bound, next_before continuing below it.
    const paged: string[] = [];
    let before: string | null = null;
    for (let n = 0; n < 10; n++) {
      const res: Response = await fetch(
        `${dash.url}/api/events?limit=200${before ? `&before=${before}` : ""}`,
      );
      assert.equal(res.status, 200);
      const page = await res.json();
      const text = JSON.stringify(page.events);
      assert.ok(text.length <= 64 * 1024, `one answer: ${text.length} bytes`);
      assert.ok(page.events.length >= 1 && page.events.length < 4, `${page.events.length}`);
      paged.push(...idsOf(page.events));
      before = page.next_before;
      assert.equal(page.more, before !== null);
      if (!before) break;
    }
    assert.deepEqual(paged, [...ids].reverse(), "every event once, newest first");
    const activity = await (await fetch(`${dash.url}/activity?limit=200`)).text();
    assert.match(activity, /id="older" href="\/activity\?[^"]*before=/, "the page pages back");
    // A transaction: oldest first, next_after continuing after it.
    const told: string[] = [];
    let after: string | null = null;
    for (let n = 0; n < 10; n++) {
      const tx = await json(
        `${dash.url}/tx/tx-big?format=json${after ? `&after=${after}` : ""}`,
        {},
      );
      assert.ok(JSON.stringify(tx.others).length <= 64 * 1024);
      assert.ok(tx.others.length >= 1 && tx.others.length < 4, `${tx.others.length}`);
      told.push(...idsOf(tx.others));
      after = tx.next_after;
      assert.equal(tx.more, after !== null);
      if (!after) break;
    }
    assert.deepEqual(told, ids, "every event of the transaction once, oldest first");
    const page = await (await fetch(`${dash.url}/tx/tx-big`)).text();
    const newer = /id="newer" href="([^"]*)"/.exec(page)?.[1] ?? "";
    assert.match(newer, /^\/tx\/tx-big\?after=/, "the page links to the newer events");
    const later = await (await fetch(dash.url + newer.replaceAll("&amp;", "&"))).text();
    assert.match(later, /These are later events/, "a later page says where the first ones are");
    assert.match(later, /No decision among the events shown here/);
    // One event beyond the bound is answered alone.
    const huge = String(
      (await publish(relay.url, "sensor.big", { tx_id: "tx-big", blob: blob.repeat(5) })).body.id,
    );
    await waitFor(async () => (await state(dash.url)).last_id === huge, 15_000, "huge");
    const alone = await json(`${dash.url}/api/events?limit=200`, {});
    assert.deepEqual(idsOf(alone.events), [huge]);
    assert.equal(alone.next_before, huge);
    const next = await json(`${dash.url}/api/events?limit=200&before=${huge}`, {});
    assert.equal(next.events[0].id, ids.at(-1));
  } finally {
    await dash.close();
    await relay.close();
  }
});
