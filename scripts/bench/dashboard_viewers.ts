/**
 * Dashboard read benchmark: requests per second to `/api/state`, `/api/overview`,
 * `/api/events?limit=200`, `/tx/{id}?format=json` and `/activity`, for a viewer whose
 * credential sees none of the held events, one that sees them all and one that sees one topic of
 * 50, and the dashboard's resident memory once it holds them, against a real
 * `iatp dashboard` holding `--events` events (100,000 by default, its most) of a real
 * `iatp relay`, both started through the launcher of `--root` (this checkout unless named, so
 * two checkouts compare), on free loopback ports (or `--port P` for the relay and P+1 for the
 * dashboard). Eight clients per route, after a warm-up. Prints JSON lines.
 * Run: `deno run -A scripts/bench/dashboard_viewers.ts [--events N] [--seconds S] [--root DIR]
 * [--port P]`.
 */
import { parseArgs } from "node:util";
import { generateIssuer, issueCredential } from "../../core/auth/mod.ts";
import { freePort, spawnIatp, waitOk } from "./tools.ts";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const { values } = parseArgs({
  options: {
    events: { type: "string", default: "100000" },
    seconds: { type: "string", default: "3" },
    root: { type: "string", default: ROOT },
    port: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(
    `Usage: deno run -A scripts/bench/dashboard_viewers.ts [--events N] [--seconds S] [--root DIR]
  [--port P]
  --events N    events the dashboard holds (default 100000, its most)
  --seconds S   seconds per route and viewer (default 3)
  --root DIR    the checkout whose launcher starts the relay and the dashboard (default this one)
  --port P      the relay's port, P+1 the dashboard's (default free loopback ports)
Prints JSON lines.`,
  );
  Deno.exit(0);
}
const EVENTS = Number(values.events);
const SECONDS = Number(values.seconds);
const ROUTES = [
  "/api/state",
  "/api/overview",
  "/api/events?limit=200",
  "/tx/tx-none?format=json",
  "/activity",
];
const CLIENTS = 8;

const issuer = await generateIssuer();
const bearer = async (sub: string, scope: string) => ({
  authorization: `Bearer ${await issueCredential(issuer, {
    sub,
    scopes: ["dashboard:view", scope],
    ttlMs: 3_600_000,
  })}`,
});
const viewers: Array<[string, Record<string, string>]> = [
  ["sees none", await bearer("none", "subscribe:nothing.*")],
  ["sees all", await bearer("all", "subscribe:*")],
  ["sees one topic of 50", await bearer("one", "subscribe:sensor.t0")],
];

const spawn = (args: string[]) => spawnIatp(values.root!, args);
const up = waitOk;

const relayPort = values.port ? Number(values.port) : freePort();
const dashPort = values.port ? relayPort + 1 : freePort();
const relayUrl = `http://127.0.0.1:${relayPort}`;
const dashUrl = `http://127.0.0.1:${dashPort}`;
const relay = spawn([
  "relay",
  "--port",
  String(relayPort),
  "--retention-events",
  String(EVENTS),
]);
let dash: Deno.ChildProcess | undefined;
try {
  await up(`${relayUrl}/health`);
  dash = spawn([
    "dashboard",
    "--port",
    String(dashPort),
    "--relay-url",
    relayUrl,
    "--history",
    String(EVENTS),
    "--auth-keys",
    issuer.publicKey,
    "--topics",
    "sensor.*",
  ]);
  await up(`${dashUrl}/health`);
  let sent = 0;
  const payload = JSON.stringify({ v: "x".repeat(100) });
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (sent < EVENTS) {
      const n = sent++;
      const res = await fetch(`${relayUrl}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: `{"topic":"sensor.t${n % 50}","payload":${payload}}`,
      });
      await res.body?.cancel();
      if (res.status !== 200) throw new Error(`publish: ${res.status}`);
    }
  }));
  const all = viewers[1][1];
  for (;;) {
    const s = await (await fetch(`${dashUrl}/api/state`, { headers: all })).json();
    if (s.events >= EVENTS) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const run = async (path: string, headers: Record<string, string>, ms: number) => {
    const t0 = performance.now();
    let n = 0;
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      while (performance.now() - t0 < ms) {
        const res = await fetch(dashUrl + path, { headers });
        if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
        await res.arrayBuffer();
        n++;
      }
    }));
    return n / ((performance.now() - t0) / 1000);
  };
  const rss = Deno.readTextFileSync(`/proc/${dash.pid}/status`).match(/VmRSS:\s+(\d+) kB/);
  console.log(
    JSON.stringify({ held: EVENTS, dashboard_rss_mb: Math.round(Number(rss?.[1]) / 1024) }),
  );
  for (const path of ROUTES) await run(path, viewers[0][1], 400); // warm-up
  for (const [viewer, headers] of viewers) {
    for (const path of ROUTES) {
      const rps = Math.round(await run(path, headers, SECONDS * 1000));
      console.log(JSON.stringify({ viewer, path, held: EVENTS, requests_per_s: rps }));
    }
  }
} finally {
  for (const p of [dash, relay]) {
    try {
      p?.kill();
    } catch { /* already gone */ }
    await p?.status;
  }
}
