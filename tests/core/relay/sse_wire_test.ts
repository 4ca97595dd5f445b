/**
 * The relay's SSE stream as bytes on the wire (WHATWG HTML, "Server-sent events"), read on raw
 * sockets: the head, the chunked framing, the retry hint first, each event whole with its id;
 * bursts coalesced into few writes arriving whole and in order on subscribers of overlapping
 * topics; resumption by Last-Event-ID on a new connection; a client that leaves unregistered;
 * HEAD registering nothing.
 * @module
 */
import assert from "node:assert/strict";
import { type SseEvent, SseParser } from "../../../core/http/mod.ts";
import { delay } from "../../helpers.ts";
import { header, RawConn } from "../../support/raw_http.ts";
import { publish, startRelay } from "./relay_helpers.ts";

const portOf = (url: string) => Number(new URL(url).port);

/** The body bytes of a chunked answer received so far, decoded (latin1 -> UTF-8 text). */
function chunkedBody(pending: string): { head: string; body: string } {
  const end = pending.indexOf("\r\n\r\n");
  if (end < 0) return { head: "", body: "" };
  let at = end + 4;
  const bytes: number[] = [];
  for (;;) {
    const line = pending.indexOf("\r\n", at);
    if (line < 0) break;
    const size = parseInt(pending.slice(at, line), 16);
    if (!(size >= 0) || pending.length < line + 2 + size + 2) break;
    for (let i = line + 2; i < line + 2 + size; i++) bytes.push(pending.charCodeAt(i));
    assert.equal(pending.slice(line + 2 + size, line + 4 + size), "\r\n", "chunk ends in CRLF");
    at = line + 4 + size;
    if (size === 0) break;
  }
  return {
    head: pending.slice(0, end + 2),
    body: new TextDecoder().decode(new Uint8Array(bytes)),
  };
}

/** A raw subscriber: GET /subscribe with `query` and `extra` fields. */
async function subscribe(url: string, query: string, extra = ""): Promise<RawConn> {
  const c = await RawConn.open(portOf(url));
  await c.write(`GET /subscribe?${query} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`);
  return c;
}

/** Reads until `n` message events arrived; returns them with the stream's text. */
async function messages(c: RawConn, n: number): Promise<{ events: SseEvent[]; text: string }> {
  let events: SseEvent[] = [];
  let text = "";
  const ok = await c.until((p) => {
    text = chunkedBody(p).body;
    events = [];
    new SseParser((e) => events.push(e)).push(text);
    return events.filter((e) => e.event === "message").length >= n;
  }, 30_000);
  assert.ok(ok, `wanted ${n} events, got ${events.length}: ${text.slice(-300)}`);
  return { events: events.filter((e) => e.event === "message"), text };
}

Deno.test("the wire: chunked text/event-stream, the retry hint first, each event whole with its id", async () => {
  const relay = await startRelay({ retry: 1500 });
  const c = await subscribe(relay.url, "topic=w", "Accept: text/event-stream\r\n");
  try {
    assert.equal(await c.status(), 200);
    const published = [];
    for (const note of ["plain", "two\nlines", "caf\u00e9 \u2603"]) {
      published.push((await publish(relay.url, "w", { note })).body);
    }
    const { events, text } = await messages(c, 3);
    const head = chunkedBody(c.pending).head.toLowerCase();
    assert.match(head, /^http\/1\.1 200 /);
    assert.match(head, /\r\ncontent-type: text\/event-stream; charset=utf-8\r\n/);
    assert.match(head, /\r\ntransfer-encoding: chunked\r\n/);
    assert.match(head, /\r\ncache-control: no-cache, no-transform\r\n/);
    assert.ok(!/\r\ncontent-length:/.test(head));
    assert.ok(text.startsWith("retry: 1500\n\n"), text.slice(0, 40));
    for (let i = 0; i < 3; i++) {
      const e = events[i];
      assert.equal(e.id, published[i].id);
      const frame = `id: ${e.id}\nevent: message\ndata: ${e.data}\n\n`;
      assert.ok(text.includes(frame), "one id, event and data line per event, blank line after");
      const data = JSON.parse(e.data);
      assert.equal(data.seq, published[i].seq);
      assert.equal(data.payload.note, ["plain", "two\nlines", "caf\u00e9 \u2603"][i]);
    }
  } finally {
    c.close();
    await relay.close();
  }
});

Deno.test("a burst on overlapping topics arrives whole and in order on every subscriber", async () => {
  const relay = await startRelay();
  const x = await subscribe(relay.url, "topic=b.x");
  const y = await subscribe(relay.url, "topic=b.y");
  const all = await subscribe(relay.url, "topic=b.*");
  const both = await subscribe(relay.url, "topic=b.x&topic=b.y");
  try {
    for (const c of [x, y, all, both]) assert.equal(await c.status(), 200);
    const n = 150;
    const sent: Array<{ topic: string; i: number }> = [];
    for (let i = 0; i < n; i += 10) {
      // Ten at a time without waiting: several land in one flush round.
      const batch = Array.from(
        { length: 10 },
        (_, k) => ({ topic: (i + k) % 3 ? "b.x" : "b.y", i: i + k }),
      );
      await Promise.all(batch.map((b) => publish(relay.url, b.topic, { i: b.i })));
      sent.push(...batch);
    }
    const order = (want: (t: string) => boolean) => sent.filter((s) => want(s.topic)).length;
    const got = async (c: RawConn, count: number) =>
      (await messages(c, count)).events.map((e) => JSON.parse(e.data));
    for (
      const [c, want] of [
        [x, (t: string) => t === "b.x"],
        [y, (t: string) => t === "b.y"],
        [all, () => true],
        [both, () => true],
      ] as const
    ) {
      const events = await got(c, order(want));
      assert.equal(events.length, order(want), "no event twice, none foreign");
      assert.ok(events.every((e) => want(e.topic)));
      const seqs = events.map((e) => e.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in publish order");
      assert.deepEqual(
        new Set(events.map((e) => e.payload.i)),
        new Set(sent.filter((s) => want(s.topic)).map((s) => s.i)),
      );
    }
  } finally {
    for (const c of [x, y, all, both]) c.close();
    await relay.close();
  }
});

Deno.test("a new connection with Last-Event-ID resumes right after that event", async () => {
  const relay = await startRelay();
  try {
    for (let i = 0; i < 2; i++) await publish(relay.url, "r", { i });
    const first = await subscribe(relay.url, "topic=r");
    const { events } = await messages(first, 2);
    first.close();
    for (let i = 2; i < 4; i++) await publish(relay.url, "r", { i });
    const again = await subscribe(relay.url, "topic=r", `Last-Event-ID: ${events[1].id}\r\n`);
    try {
      const resumed = (await messages(again, 2)).events.map((e) => JSON.parse(e.data).payload.i);
      assert.deepEqual(resumed, [2, 3]);
      await publish(relay.url, "r", { i: 4 });
      const live = (await messages(again, 3)).events.map((e) => JSON.parse(e.data).payload.i);
      assert.deepEqual(live, [2, 3, 4], "then live, with no gap or duplicate");
    } finally {
      again.close();
    }
  } finally {
    await relay.close();
  }
});

async function subscribers(url: string): Promise<number> {
  return (await (await fetch(`${url}/health`)).json()).subscribers;
}

Deno.test("a client that leaves is unregistered; HEAD registers nobody", async () => {
  const relay = await startRelay();
  try {
    const c = await subscribe(relay.url, "topic=gone");
    assert.equal(await c.status(), 200);
    assert.equal(await subscribers(relay.url), 1);
    c.close();
    const until = Date.now() + 10_000;
    while (await subscribers(relay.url) !== 0 && Date.now() < until) await delay(20);
    assert.equal(await subscribers(relay.url), 0, "the subscriber went with its client");

    const h = await RawConn.open(portOf(relay.url));
    try {
      await h.write("HEAD /subscribe?topic=gone HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const r = await h.read(10_000, { head: true });
      assert.equal(r?.status, 200);
      assert.equal(header(r!, "content-type"), "text/event-stream; charset=utf-8");
      assert.equal(await subscribers(relay.url), 0);
    } finally {
      h.close();
    }
  } finally {
    await relay.close();
  }
});
