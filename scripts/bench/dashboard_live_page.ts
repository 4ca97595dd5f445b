/**
 * The live events page under load, in headless Chromium: a real `iatp relay` and a real
 * `iatp dashboard` (behind a login), both started through the launcher of `--root` (this checkout
 * unless named, so two checkouts compare), on free loopback ports (or `--port P` for the relay
 * and P+1 for the dashboard); `--rate` events a second published across `--topics` topics while
 * the page `/activity` is open (each payload about `--payload-bytes`), logged in with a viewer credential. After a warm-up of
 * `--warmup` seconds the page's long tasks (PerformanceObserver `longtask`: main-thread tasks over
 * 50 ms) and its animation frames are counted for `--seconds` seconds. Prints one JSON line.
 * Run: `deno run -A scripts/bench/dashboard_live_page.ts [--rate N] [--topics N] [--seconds S]
 * [--warmup S] [--payload-bytes N] [--cpu-slowdown N] [--root DIR] [--port P] [--chromium PATH]`.
 */
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { generateIssuer, issueCredential } from "../../core/auth/mod.ts";
import { freePort, spawnIatp, waitOk } from "./tools.ts";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "600" },
    topics: { type: "string", default: "900" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    "payload-bytes": { type: "string", default: "2000" },
    "cpu-slowdown": { type: "string", default: "1" },
    profile: { type: "boolean", default: false },
    root: { type: "string", default: ROOT },
    port: { type: "string" },
    chromium: { type: "string", default: Deno.env.get("IATP_CHROMIUM") ?? "/usr/bin/chromium" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(
    `Usage: deno run -A scripts/bench/dashboard_live_page.ts [--rate N] [--topics N] [--seconds S]
  [--warmup S] [--payload-bytes N] [--cpu-slowdown N] [--root DIR] [--port P] [--chromium PATH]
  --rate N        events published a second (default 600)
  --topics N      topics they are spread over (default 900)
  --seconds S     seconds measured (default 10)
  --warmup S      seconds before measuring (default 3)
  --payload-bytes N  about how large each event's payload is (default 2000, an intent's size)
  --cpu-slowdown N  Chromium's CPU throttling (DevTools), as a slower laptop (default 1: none)
  --profile       also print the page's top 15 functions by self time (DevTools profiler)
  --root DIR      the checkout whose launcher starts the relay and the dashboard (default this one)
  --port P        the relay's port, P+1 the dashboard's (default free loopback ports)
  --chromium PATH the browser (default /usr/bin/chromium)
Prints one JSON line.`,
  );
  Deno.exit(0);
}
const RATE = Number(values.rate);
const TOPICS = Number(values.topics);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
/** Filler fields that bring a payload to about --payload-bytes, as an intent's context does. */
const FILLER = Object.fromEntries(
  Array.from(
    { length: Math.max(0, Math.floor(Number(values["payload-bytes"]) / 50)) },
    (_, i) => [`field_${i}`, "x".repeat(36)],
  ),
);

const issuer = await generateIssuer();
const credential = await issueCredential(issuer, {
  sub: "bench-viewer",
  scopes: ["dashboard:view", "subscribe:*"],
  ttlMs: 3_600_000,
});

const spawn = (args: string[]) => spawnIatp(values.root!, args);
const up = waitOk;

const relayPort = values.port ? Number(values.port) : freePort();
const dashPort = values.port ? relayPort + 1 : freePort();
const relayUrl = `http://127.0.0.1:${relayPort}`;
const dashUrl = `http://127.0.0.1:${dashPort}`;
const relay = spawn(["relay", "--port", String(relayPort)]);
let dash: Deno.ChildProcess | undefined;
let publishing = true;
let published = 0;
let failed = 0;
const browser = await chromium.launch({
  executablePath: values.chromium,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  await up(`${relayUrl}/health`);
  dash = spawn([
    ...["dashboard", "--port", String(dashPort), "--relay-url", relayUrl],
    ...["--auth-keys", issuer.publicKey, "--topics", "sensor.*"],
  ]);
  await up(`${dashUrl}/health`);
  // On a busy host a run's first login was refused once (the login route loads with the first
  // request that needs it): it is tried again, for up to 10 s.
  let login = new Response(null, { status: 503 });
  for (let i = 0; i < 50 && login.status !== 200; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 200));
    login = await fetch(`${dashUrl}/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ credential }),
    });
    await login.body?.cancel();
  }
  const session = (login.headers.get("set-cookie") ?? "").split(";")[0].split("=");
  if (login.status !== 200 || session.length !== 2) throw new Error(`login: ${login.status}`);

  // Paced publishing: RATE/100 events every 10 ms, round robin over the topics.
  const pacer = (async () => {
    const perTick = RATE / 100;
    let t0 = performance.now();
    let owed = 0;
    for (let tick = 0; publishing; tick++) {
      owed += perTick;
      const batch: Promise<void>[] = [];
      for (; owed >= 1; owed--) {
        const n = published++;
        batch.push((async () => {
          const res = await fetch(`${relayUrl}/publish`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              topic: `sensor.t${n % TOPICS}`,
              payload: { agent_id: `agent-${n % 7}`, tx_id: `tx-${n}`, value: n, ...FILLER },
            }),
          });
          await res.body?.cancel();
          if (res.status !== 200) failed++;
        })());
      }
      await Promise.all(batch);
      const wait = t0 + (tick + 1) * 10 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      // Behind by more than a tick (a busy host): go on from now rather than send the lag as a
      // burst, so the rate stays the rate asked for.
      else if (wait < -10) t0 -= wait;
    }
  })();

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addCookies([{ name: session[0], value: session[1], url: dashUrl }]);
  await context.addInitScript(() => {
    const w = globalThis as unknown as {
      __bench: { long: number[]; frames: number; events: number; ms: number; on: boolean };
      requestAnimationFrame(f: () => void): void;
      PerformanceObserver: new (
        cb: (l: { getEntries(): Array<{ duration: number }> }) => void,
      ) => { observe(o: Record<string, unknown>): void };
    };
    const b = w.__bench = { long: [] as number[], frames: 0, events: 0, ms: 0, on: false };
    // Events the page received in the window, counted where its listener is called.
    const es = (globalThis as unknown as {
      EventSource: {
        prototype: { addEventListener(t: string, f: (e: unknown) => void, o?: unknown): void };
      };
    }).EventSource.prototype;
    const listen = es.addEventListener;
    es.addEventListener = function (t, f, o) {
      const counted = t === "message"
        ? (e: unknown) => {
          if (b.on) b.events++;
          f.call(this, e);
        }
        : f;
      listen.call(this, t, counted, o);
    };
    new w.PerformanceObserver((list) => {
      if (b.on) { for (const e of list.getEntries()) b.long.push(e.duration); }
    }).observe({ type: "longtask" });
    const frame = () => {
      if (b.on) b.frames++;
      w.requestAnimationFrame(frame);
    };
    w.requestAnimationFrame(frame);
  });
  const page = await context.newPage();
  const slowdown = Number(values["cpu-slowdown"]);
  const cdp = await context.newCDPSession(page);
  if (slowdown > 1) await cdp.send("Emulation.setCPUThrottlingRate", { rate: slowdown });
  await page.goto(`${dashUrl}/activity`);
  await page.waitForSelector("#stream-status[data-state=connected]", { timeout: 30_000 });
  await new Promise((r) => setTimeout(r, WARMUP * 1000));
  const sentBefore = published;
  if (values.profile) {
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.start");
    await browser.startTracing(page, {
      categories: ["devtools.timeline", "disabled-by-default-devtools.timeline"],
    });
  }
  await page.evaluate("__bench.on = true; __bench.ms = -performance.now()");
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  if (values.profile) {
    const traceBytes = await browser.stopTracing();
    if (Deno.env.get("TRACE_OUT")) await Deno.writeFile(Deno.env.get("TRACE_OUT")!, traceBytes);
    const trace = JSON.parse(new TextDecoder().decode(traceBytes)) as {
      traceEvents: Array<{ name: string; ph: string; dur?: number; tid: number }>;
    };
    const byName = new Map<string, number>();
    for (const e of trace.traceEvents) {
      if (e.ph === "X" && e.dur) byName.set(e.name, (byName.get(e.name) ?? 0) + e.dur / 1000);
    }
    const topTrace = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 15);
    console.log(
      JSON.stringify({
        trace_ms: Object.fromEntries(topTrace.map(([k, v]) => [k, Math.round(v)])),
      }),
    );
    const { profile } = await cdp.send("Profiler.stop");
    const self = new Map<string, number>();
    const dt = profile.timeDeltas ?? [];
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    (profile.samples ?? []).forEach((id, i) => {
      const f = byId.get(id)!.callFrame;
      const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${
        f.lineNumber + 1
      }`;
      self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0) / 1000);
    });
    const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 15);
    console.log(
      JSON.stringify({ self_ms: Object.fromEntries(top.map(([k, v]) => [k, Math.round(v)])) }),
    );
  }
  const result = await page.evaluate(
    "(() => { __bench.on = false; __bench.ms += performance.now(); return { ...__bench, cards: document.querySelectorAll('#cards > li').length, counters: document.querySelectorAll('#counters > li').length }; })()",
  ) as {
    long: number[];
    frames: number;
    events: number;
    ms: number;
    cards: number;
    counters: number;
  };
  const window = result.ms / 1000;
  const sent = published - sentBefore;
  const long = result.long.sort((a, b) => a - b);
  console.log(JSON.stringify({
    root: values.root,
    rate: RATE,
    topics: TOPICS,
    seconds: SECONDS,
    cpu_slowdown: slowdown,
    window_s: Number(window.toFixed(1)),
    published_per_s: Math.round(sent / window),
    received_per_s: Math.round(result.events / window),
    publish_failures: failed,
    long_tasks: long.length,
    long_task_ms_total: Math.round(long.reduce((a, b) => a + b, 0)),
    long_task_ms_max: Math.round(long.at(-1) ?? 0),
    long_task_ms_median: Math.round(long[Math.floor(long.length / 2)] ?? 0),
    long_task_ms: long.map(Math.round),
    frames_per_s: Math.round(result.frames / window),
    cards: result.cards,
    counters: result.counters,
  }));
  publishing = false;
  await pacer;
} finally {
  publishing = false;
  await browser.close();
  for (const p of [dash, relay]) {
    if (!p) continue;
    try {
      p.kill("SIGTERM");
    } catch { /* gone */ }
    await p.status;
  }
}
