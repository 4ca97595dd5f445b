/**
 * `iatp relay --workers 2` as a real process: subscribers on both isolates get every event in
 * one order whichever isolate it was published on, a Last-Event-ID resume on either isolate while
 * events keep coming is gapless and without duplicates, the subscriber bound counts both
 * isolates, /health and /topics agree everywhere, SIGTERM ends every stream and exits 0.
 * @module
 */
import assert from "node:assert/strict";
import { runIatp, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { exchange, json } from "../support/raw_http.ts";
import { openSse, type SseReader } from "../core/relay/relay_helpers.ts";

const MAX_SUBSCRIBERS = 24;

/** Publishes on a fresh connection (so on either isolate); the event's id and sequence. */
async function publish(port: number, n: number): Promise<{ id: string; seq: number }> {
  const body = JSON.stringify({ topic: "jobs", payload: { n } });
  const r = await exchange(
    port,
    `POST /publish HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/json\r\n` +
      `content-length: ${body.length}\r\n\r\n${body}`,
  );
  if (!r) throw new Error("no answer to a publish");
  assert.equal(r.status, 201, r.body);
  const out = json(r);
  return { id: String(out.id), seq: Number(out.seq) };
}

async function get(port: number, path: string): Promise<string> {
  const r = await exchange(
    port,
    `GET ${path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n`,
  );
  if (!r) throw new Error(`no answer to ${path}`);
  return r.body;
}

/** A per-isolate series of /metrics, by worker. */
function perWorker(metrics: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = new RegExp(`^${name}\\{[^}]*worker="(\\d+)"\\} (\\d+)`, "gm");
  for (const m of metrics.matchAll(re)) out.set(m[1], Number(m[2]));
  return out;
}

const seqsOf = (r: SseReader) => r.messages().map((m) => Number(m.json.seq));
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

Deno.test("relay --workers 2: one order on both isolates, gapless resume anywhere, one bound", async () => {
  const relay = await startIatpService([
    "relay",
    "--port=0",
    "--workers=2",
    "--compat=iatp",
    `--max-subscribers=${MAX_SUBSCRIBERS}`,
  ]);
  const readers: SseReader[] = [];
  try {
    await waitFor(() => relay.stdout().includes("relay workers serving"), 30_000, "workers");
    const port = Number(new URL(relay.url).port);

    // Subscribers up to the bound, each on its own connection: both isolates hold some.
    for (let i = 0; i < MAX_SUBSCRIBERS; i++) {
      const r = await openSse(relay.url, "topic=jobs");
      assert.equal(r.status, 200);
      readers.push(r);
    }
    await waitFor(
      async () => {
        const subs = perWorker(await get(port, "/metrics"), "iatp_worker_relay_subscribers");
        return (subs.get("0") ?? 0) + (subs.get("1") ?? 0) === MAX_SUBSCRIBERS;
      },
      10_000,
      "every subscriber registered",
    );
    const subs = perWorker(await get(port, "/metrics"), "iatp_worker_relay_subscribers");
    assert.ok((subs.get("0") ?? 0) > 0 && (subs.get("1") ?? 0) > 0, `spread: ${[...subs]}`);
    // One more is refused on either isolate: the bound counts both.
    for (let i = 0; i < 4; i++) {
      const extra = await openSse(relay.url, "topic=jobs");
      assert.equal(extra.status, 503);
      await extra.close();
    }
    assert.equal(JSON.parse(await get(port, "/health")).subscribers, MAX_SUBSCRIBERS);

    // Half of them leave; their slots are free again.
    for (const r of readers.splice(0, MAX_SUBSCRIBERS / 2)) await r.close();
    await waitFor(
      async () => JSON.parse(await get(port, "/health")).subscribers === MAX_SUBSCRIBERS / 2,
      10_000,
      "slots released",
    );

    // Publishes on fresh connections (either isolate): every subscriber gets all, in one order.
    const before = perWorker(await get(port, "/metrics"), "iatp_worker_http_requests_total");
    const first: Array<{ id: string; seq: number }> = [];
    for (let n = 1; n <= 30; n++) first.push(await publish(port, n));
    const after = perWorker(await get(port, "/metrics"), "iatp_worker_http_requests_total");
    for (const w of ["0", "1"]) {
      assert.ok((after.get(w) ?? 0) - (before.get(w) ?? 0) > 1, `isolate ${w} took publishes`);
    }
    assert.deepEqual(first.map((p) => p.seq), range(1, 30));
    for (const r of readers) {
      await r.until(
        (e) => e.filter((x) => x.event === "message").length >= 30,
        10_000,
        "30 events",
      );
      assert.deepEqual(seqsOf(r), range(1, 30));
      const payloads = r.messages().map((m) => (m.json.payload as { n: number }).n);
      assert.deepEqual(payloads, range(1, 30));
    }

    // Resumes on fresh connections (either isolate) while 30 more are published.
    const publishing = (async () => {
      for (let n = 31; n <= 60; n++) await publish(port, n);
    })();
    const resumed: Array<{ from: number; reader: SseReader }> = [];
    for (let k = 0; k < 10; k++) {
      const from = 3 + 2 * k;
      const reader = await openSse(relay.url, "topic=jobs", {
        "Last-Event-ID": first[from - 1].id,
      });
      assert.equal(reader.status, 200);
      resumed.push({ from, reader });
    }
    await publishing;
    for (const { from, reader } of resumed) {
      await reader.until(
        (e) => e.filter((x) => x.event === "message").length >= 60 - from,
        10_000,
        `resume after ${from}`,
      );
      assert.deepEqual(seqsOf(reader), range(from + 1, 60), `resume after ${from}`);
      await reader.close();
    }
    for (const r of readers) {
      await r.until(
        (e) => e.filter((x) => x.event === "message").length >= 60,
        10_000,
        "60 events",
      );
      assert.deepEqual(seqsOf(r), range(1, 60));
    }

    // /topics answers alike on every connection.
    const topics = new Set<string>();
    for (let i = 0; i < 8; i++) {
      topics.add(JSON.stringify(JSON.parse(await get(port, "/topics")).topics));
    }
    assert.equal(topics.size, 1, [...topics].join("\n"));
    assert.equal(JSON.parse([...topics][0])[0].last_seq, 60);
  } finally {
    const status = await relay.stop("SIGTERM");
    assert.equal(status.code, 0, relay.stderr());
  }
  // Every open stream was ended by the drain (no client had to give up).
  for (const r of readers) await r.ended;
  assert.match(relay.stdout(), /"msg":"stopped"/);
});

Deno.test("relay --workers 2 on SQLite: history from before the start and its bound on every isolate", async () => {
  const dir = await tempDir();
  const args = ["relay", "--port=0", "--compat=iatp", "--retention-events=5"];
  const store = `--store=sqlite:${dir.path}/relay.db`;
  try {
    // History written by a one-isolate relay...
    const one = await startIatpService([...args, store, "--workers=1"]);
    const ids: string[] = [];
    try {
      const port = Number(new URL(one.url).port);
      for (let n = 1; n <= 12; n++) ids.push((await publish(port, n)).id);
    } finally {
      assert.equal((await one.stop("SIGTERM")).code, 0, one.stderr());
    }
    // ...is what every isolate of a two-isolate relay starts from (a worker keeps the data of
    // two events: it reads the others from the main isolate).
    const two = await startIatpService([...args, store, "--workers=2", "--cache-events=2"]);
    try {
      await waitFor(() => two.stdout().includes("relay workers serving"), 30_000, "workers");
      const port = Number(new URL(two.url).port);
      for (let i = 0; i < 8; i++) {
        // Resuming inside the retained five: exactly the rest.
        const inside = await openSse(two.url, "topic=jobs", { "Last-Event-ID": ids[8] });
        await inside.until((e) => e.filter((x) => x.event === "message").length >= 3);
        assert.deepEqual(seqsOf(inside), [10, 11, 12]);
        await inside.close();
        // Resuming before them: a reset naming the oldest retained, then the five.
        const before = await openSse(two.url, "topic=jobs", { "Last-Event-ID": ids[1] });
        await before.until((e) => e.filter((x) => x.event === "message").length >= 5);
        const reset = before.events.find((e) => e.event === "reset");
        assert.ok(reset, "no reset");
        assert.equal(JSON.parse(reset.data).oldest, ids[7]);
        assert.deepEqual(seqsOf(before), [8, 9, 10, 11, 12]);
        await before.close();
      }
      const topics = JSON.parse(await get(port, "/topics")).topics;
      assert.equal(topics[0].count, 5);
      // New events continue the one sequence.
      assert.equal((await publish(port, 13)).seq, 13);
    } finally {
      assert.equal((await two.stop("SIGTERM")).code, 0, two.stderr());
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("relay --workers 2: a worker takes its events, so publishes far past backlog_bytes all land", async () => {
  // The main isolate counts what each worker has been sent and not taken against backlog_bytes
  // (past it, publishes answer 503): a worker that takes its batches never holds publishes back.
  const relay = await startIatpService([
    "relay",
    "--port=0",
    "--workers=2",
    "--compat=iatp",
    "--max-payload-bytes=2KiB",
    "--queue-bytes=4KiB",
    "--backlog-bytes=4KiB",
  ]);
  try {
    await waitFor(() => relay.stdout().includes("relay workers serving"), 30_000, "workers");
    const port = Number(new URL(relay.url).port);
    const pad = "p".repeat(1_000);
    for (let n = 1; n <= 40; n++) {
      const body = JSON.stringify({ topic: "big", payload: { n, pad } });
      const r = await exchange(
        port,
        `POST /publish HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n` +
          `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      );
      assert.equal(r?.status, 201, `publish ${n}: ${r?.status} ${r?.body}`);
    }
    const topics = JSON.parse(await get(port, "/topics")).topics;
    assert.equal(topics[0].count, 40);
  } finally {
    assert.equal((await relay.stop("SIGTERM")).code, 0, relay.stderr());
  }
});

Deno.test("relay --workers 2: awkward payloads arrive exactly on both isolates; one topic too many is 507 on either", async () => {
  // A publish handed to worker 0 and the events it sends back cross isolates as strings: what
  // the separators and odd characters of a payload hold must come out as published, and the
  // store's refusal must keep its status (507) and JSON body, whichever isolate took the publish.
  const relay = await startIatpService([
    "relay",
    "--port=0",
    "--workers=2",
    "--compat=iatp",
    "--max-topics=3",
  ]);
  const readers: SseReader[] = [];
  try {
    await waitFor(() => relay.stdout().includes("relay workers serving"), 30_000, "workers");
    const port = Number(new URL(relay.url).port);
    for (let i = 0; i < 8; i++) readers.push(await openSse(relay.url, "topic=odd"));
    await waitFor(
      async () => {
        const subs = perWorker(await get(port, "/metrics"), "iatp_worker_relay_subscribers");
        return (subs.get("0") ?? 0) + (subs.get("1") ?? 0) === 8;
      },
      10_000,
      "every subscriber registered",
    );
    const subs = perWorker(await get(port, "/metrics"), "iatp_worker_relay_subscribers");
    assert.ok((subs.get("0") ?? 0) > 0 && (subs.get("1") ?? 0) > 0, `spread: ${[...subs]}`);
    const payloads = [
      { s: "B3:abc,1,2:x\n-", t: "P\nC1 x\nR7\n", u: "日本 🚀 \uD800\uDC00 \u0000" },
      { s: "", n: -0, big: 2 ** 53 - 1, f: 1.5, e: 1e21 },
      { s: "x".repeat(70_000) + ":" },
      { a: [":", ",", "\n", " ", "-"] },
    ];
    const send = async (topic: string, payload: unknown) => {
      const body = new TextEncoder().encode(JSON.stringify({ topic, payload }));
      const head = new TextEncoder().encode(
        `POST /publish HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n` +
          `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
      );
      const r = await exchange(port, new Uint8Array([...head, ...body]));
      if (!r) throw new Error(`no answer to a publish to ${topic}`);
      return r;
    };
    for (const p of payloads) assert.equal((await send("odd", p)).status, 201);
    // In one go, on fresh connections (so on either isolate): two topics fit, six do not.
    const answers = await Promise.all(range(0, 7).map((i) => send(`t${i}`, { i })));
    assert.equal(
      answers.filter((r) => r.status === 201).length,
      2,
      answers.map((r) => r.status).join(),
    );
    for (const r of answers.filter((r) => r.status !== 201)) {
      assert.equal(r.status, 507, r.body);
      assert.match(String(json(r).error), /topic limit/, r.body);
    }
    for (const r of readers) {
      await r.until(() => r.messages().length === payloads.length, 10_000, "every event");
      assert.deepEqual(
        r.messages().map((m) => m.json.payload),
        JSON.parse(JSON.stringify(payloads)),
      );
    }
    // A replay from the history (a worker's cache or worker 0) is the same.
    for (let i = 0; i < 4; i++) {
      const again = await openSse(relay.url, "topic=odd&since=0");
      readers.push(again);
      await again.until(() => again.messages().length === payloads.length, 10_000, "the replay");
      assert.deepEqual(
        again.messages().map((m) => m.json.payload),
        JSON.parse(JSON.stringify(payloads)),
      );
    }
  } finally {
    for (const r of readers) await r.close();
    assert.equal((await relay.stop("SIGTERM")).code, 0, relay.stderr());
  }
});

Deno.test("relay: a workers value outside 1..64 exits 2 naming the setting", async () => {
  const r = await runIatp(["relay", "--workers=0"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /workers \(flag --workers\)/);
  const env = await runIatp(["relay"], { env: { IATP_RELAY_WORKERS: "65" } });
  assert.equal(env.code, 2, env.stderr);
  assert.match(env.stderr, /workers \(env IATP_RELAY_WORKERS\)/);
});

Deno.test("relay --workers 2: one publisher's share of topics holds across both isolates; others still create topics", async () => {
  // Worker 0's store counts who created each topic: a publisher sending new topics to either
  // isolate at once gets exactly its share, the rest 403 naming the setting; another keeps its
  // own share, and existing topics take publishes on either isolate.
  const tokenA = "workers-sensor-a-1", tokenB = "workers-sensor-b-2";
  const relay = await startIatpService([
    "relay",
    "--port=0",
    "--workers=2",
    "--compat=iatp",
    "--max-topics-per-principal=3",
  ], {
    env: {
      IATP_RELAY_TOKENS: JSON.stringify({
        [tokenA]: ["publish:sensor.*"],
        [tokenB]: ["publish:sensor.*"],
      }),
    },
  });
  try {
    await waitFor(() => relay.stdout().includes("relay workers serving"), 30_000, "workers");
    const port = Number(new URL(relay.url).port);
    const send = async (token: string, topic: string) => {
      const body = JSON.stringify({ topic, payload: { v: 1 } });
      const r = await exchange(
        port,
        `POST /publish HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n` +
          `authorization: Bearer ${token}\r\ncontent-type: application/json\r\n` +
          `content-length: ${body.length}\r\n\r\n${body}`,
      );
      if (!r) throw new Error(`no answer to a publish to ${topic}`);
      return r;
    };
    const answers = await Promise.all(range(0, 9).map((i) => send(tokenA, `sensor.a${i}`)));
    const created = answers.flatMap((r, i) => r.status === 201 ? [`sensor.a${i}`] : []);
    assert.equal(created.length, 3, answers.map((r) => r.status).join());
    for (const r of answers.filter((r) => r.status !== 201)) {
      assert.equal(r.status, 403, r.body);
      assert.equal(json(r).setting, "max_topics_per_principal", r.body);
      assert.equal(json(r).limit, 3, r.body);
    }
    for (const r of await Promise.all(range(0, 5).map(() => send(tokenA, created[0])))) {
      assert.equal(r.status, 201, r.body);
    }
    const other = await Promise.all(range(0, 2).map((i) => send(tokenB, `sensor.b${i}`)));
    assert.deepEqual(other.map((r) => r.status), [201, 201, 201]);
    assert.equal((await send(tokenB, "sensor.b9")).status, 403);
    const metrics = await get(port, "/metrics");
    const total =
      /^iatp_relay_topic_refusals_total\{setting="max_topics_per_principal"[^}]*\} (\d+)/m
        .exec(metrics);
    assert.equal(Number(total?.[1]), 8, "counted on whichever isolate answered, added up");
  } finally {
    assert.equal((await relay.stop("SIGTERM")).code, 0, relay.stderr());
  }
});
