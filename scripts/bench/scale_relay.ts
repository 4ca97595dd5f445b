/**
 * The relay part of the scale-out benchmark (prints JSON when run directly): deliveries per second with the embedded memory
 * store, one replica on NATS JetStream and two replicas sharing one stream (subscribers and
 * publishers spread over both), all in the same run; and failover time: a subscriber's replica
 * killed with SIGKILL while events flow, the subscriber resuming on the other replica by
 * Last-Event-ID (time from the kill to the first resumed event, and whether any event was
 * missed or repeated). Relays run as `iatp relay` child processes; nats-server is started on a
 * loopback port with its own store directory.
 * Usage: deno run -A scripts/bench/scale_relay.ts [--subs 50] [--messages 5000] [--publishers 16]
 * @module
 */
import { parseArgs } from "node:util";
import { sleep } from "../../core/async/mod.ts";
import { startIatpService } from "../../tests/helpers.ts";
import { startNats } from "../../tests/support/nats.ts";
import { openSse } from "../../tests/core/relay/relay_helpers.ts";
import { SseSub } from "./relay_clients.ts";

/** What to measure. */
export interface RelayScaleOptions {
  /** Subscribers per configuration (split over the replicas). */
  subscribers: number;
  /** Events published per configuration. */
  messages: number;
  /** Concurrent publishers (split over the replicas). */
  publishers: number;
}

type Relay = Awaited<ReturnType<typeof startIatpService>>;

const PAD = "x".repeat(100);

function startRelay(store: string): Promise<Relay> {
  return startIatpService([
    "relay",
    "--port",
    "0",
    "--store",
    store,
    "--compat",
    "iatp",
    "--heartbeat",
    "30s",
  ], { env: { IATP_DATA_DIR: Deno.makeTempDirSync({ prefix: "iatp-bench-" }) } });
}

/** Publishes once; the HTTP status (0 when the connection failed). */
async function publishTo(url: string, topic: string, payload: unknown): Promise<number> {
  try {
    const res = await fetch(`${url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic, payload }),
    });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

async function waitCount(count: () => number, target: number, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  while (count() < target && Date.now() < end) await sleep(5);
  return count();
}

/** Deliveries per second to `o.subscribers` spread over `relays`. */
async function deliveries(relays: Relay[], o: RelayScaleOptions) {
  const subs: SseSub[] = [];
  for (let i = 0; i < o.subscribers; i++) {
    const sub = new SseSub();
    await sub.open(Number(new URL(relays[i % relays.length].url).port), "topic=thr");
    subs.push(sub);
  }
  let next = 0;
  let refused = 0;
  const refusals: Record<string, number> = {};
  const t0 = performance.now();
  await Promise.all(Array.from({ length: o.publishers }, async (_, w) => {
    const url = relays[w % relays.length].url;
    while (next < o.messages) {
      next++;
      const status = await publishTo(url, "thr", { pad: PAD });
      if (status !== 201) {
        refused++;
        refusals[status] = (refusals[status] ?? 0) + 1;
      }
    }
  }));
  const target = (o.messages - refused) * o.subscribers;
  const got = await waitCount(() => subs.reduce((a, s) => a + s.counter.count, 0), target, 120_000);
  const secs = (performance.now() - t0) / 1000;
  await Promise.all(subs.map((s) => s.close()));
  return {
    replicas: relays.length,
    subscribers: o.subscribers,
    messages: o.messages,
    refused,
    refusals,
    delivered: got,
    delivered_per_s: Math.round(got / secs),
    published_per_s: Math.round((o.messages - refused) / secs),
  };
}

/** Kill -9 the replica a subscriber reads while events flow; resume on the other. */
async function failover(natsUrl: string) {
  const [a, b] = [await startRelay(natsUrl), await startRelay(natsUrl)];
  try {
    const onA = await openSse(a.url, "topic=fo");
    let n = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        if (await publishTo(b.url, "fo", { n: n + 1 }) === 201) n++;
        await sleep(2);
      }
    })();
    await onA.until((e) => e.filter((x) => x.event === "message").length >= 200, 30_000);
    const killedAt = performance.now();
    await a.stop("SIGKILL");
    await onA.ended;
    const before = onA.messages();
    const onB = await openSse(b.url, "topic=fo", { "Last-Event-ID": before.at(-1)!.id! });
    await onB.until((e) => e.some((x) => x.event === "message"), 30_000);
    const resumedMs = performance.now() - killedAt;
    await sleep(300);
    publishing = false;
    await publisher;
    await onB.until((e) => e.filter((x) => x.event === "message").length >= n - before.length);
    await onB.close();
    const got = [...before, ...onB.messages()].map((m) => (m.json.payload as { n: number }).n);
    const missing = n - new Set(got).size;
    return {
      kill_to_resumed_delivery_ms: Math.round(resumedMs),
      events: n,
      missing,
      duplicates: got.length - new Set(got).size,
      in_order: got.every((v, i) => i === 0 || v > got[i - 1]),
    };
  } finally {
    await Promise.all([a.stop("SIGKILL"), b.stop("SIGKILL")]);
  }
}

/** Runs every relay measurement; the result is plain JSON. */
export async function relayScale(o: RelayScaleOptions): Promise<Record<string, unknown>> {
  const embedded = await startRelay("memory");
  let memory;
  try {
    memory = await deliveries([embedded], o);
  } finally {
    await embedded.stop();
  }
  const nats = await startNats();
  try {
    const one = [await startRelay(nats.url)];
    let js1, js2;
    try {
      js1 = await deliveries(one, o);
    } finally {
      await one[0].stop();
    }
    // A fresh stream for two replicas: same history length as the single-replica run.
    const jsm = await nats.manager();
    await jsm.streams.delete("IATP_RELAY");
    const two = [await startRelay(nats.url), await startRelay(nats.url)];
    try {
      js2 = await deliveries(two, o);
    } finally {
      await Promise.all(two.map((r) => r.stop()));
    }
    return {
      embedded_memory: memory,
      jetstream_1_replica: js1,
      jetstream_2_replicas: js2,
      failover: await failover(nats.url),
    };
  } finally {
    await nats.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      subs: { type: "string", default: "50" },
      messages: { type: "string", default: "5000" },
      publishers: { type: "string", default: "16" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(`Usage: deno run -A scripts/bench/scale_relay.ts [--subs N] [--messages N]
  [--publishers N]
  --subs N         subscribers per configuration (default 50)
  --messages N     events published per configuration (default 5000)
  --publishers N   concurrent publishers (default 16)
Needs nats-server. Prints one JSON document.`);
    Deno.exit(0);
  }
  const relay = await relayScale({
    subscribers: Number(values.subs),
    messages: Number(values.messages),
    publishers: Number(values.publishers),
  });
  console.log(JSON.stringify(
    {
      bench: "scale_relay",
      machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
      relay,
    },
    null,
    2,
  ));
}
