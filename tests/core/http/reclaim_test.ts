/**
 * The heap reclaim (core/http/reclaim.ts) in real services on loopback: one once the service
 * listens, then one per quiet spell after traffic, none without traffic or during steady traffic,
 * none when off, a
 * service without `--expose-gc` that says so and serves normally, and the setting's bounds.
 * @module
 */
import assert from "node:assert/strict";
import {
  type ChildService,
  ROOT,
  runIatp,
  spawnChild,
  spawnIatp,
  waitFor,
  waitListening,
} from "../../helpers.ts";

/** A relay on one isolate (its reclaims counted alone), through the launcher unless `bare`. */
async function startRelay(
  idleReclaim: string,
  opts: { bare?: boolean } = {},
): Promise<{ svc: ChildService; url: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "iatp-reclaim-" });
  const args = ["--port", "0", "--workers", "1", "--idle-reclaim", idleReclaim];
  const env = { IATP_DATA_DIR: dir };
  // `bare`: plain `deno run`, without the permission table's --v8-flags=--expose-gc.
  const svc = opts.bare
    ? spawnChild(Deno.execPath(), ["run", "-A", `${ROOT}cmd/relay.ts`, ...args], { env })
    : spawnIatp(["relay", ...args], { env });
  try {
    return { svc, url: await waitListening(svc), dir };
  } catch (err) {
    await svc.stop();
    throw err;
  }
}

async function stopRelay(r: { svc: ChildService; dir: string }): Promise<void> {
  await r.svc.stop();
  await Deno.remove(r.dir, { recursive: true });
}

/** One request the service counts as work (any route but the built-in probes). */
async function work(url: string): Promise<void> {
  const res = await fetch(`${url}/no-such-route`);
  await res.body?.cancel();
  assert.equal(res.status, 404);
}

/** A sample of the service's `/metrics` (a built-in probe: not work). */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  assert.ok(line, `${name} in /metrics`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** Work that grows the heap: events the relay keeps (about 8 MB of payloads in all). */
async function growingWork(url: string): Promise<void> {
  const payload = { blob: "x".repeat(100_000) };
  for (let i = 0; i < 80; i++) {
    const res = await fetch(`${url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: `reclaim.t${i}`, payload }),
    });
    await res.body?.cancel();
    assert.equal(res.status, 200);
  }
}

const reclaims = (url: string) => metric(url, "iatp_memory_reclaims_total");
const skipped = (url: string) => metric(url, "iatp_memory_reclaims_skipped_total");
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("steady traffic holds the reclaim off; the quiet spell after it runs one, once", async () => {
  const relay = await startRelay("1s");
  try {
    // The start's reclaim runs first, with no traffic.
    await waitFor(async () => await reclaims(relay.url) === 1, 30_000, "the start's reclaim");
    // A request every 50 ms for 3.5 s (three periods): every period has work, and the heap grows.
    await growingWork(relay.url);
    const until = Date.now() + 3_500;
    while (Date.now() < until) {
      await work(relay.url);
      await pause(50);
    }
    assert.equal(await reclaims(relay.url), 1);
    await waitFor(async () => await reclaims(relay.url) === 2, 30_000, "one reclaim");
    assert.ok(await metric(relay.url, "iatp_memory_reclaim_pause_seconds") > 0);
    assert.ok(await metric(relay.url, "iatp_memory_reclaim_freed_bytes") >= 0);
    // Still quiet (scrapes and health checks are not work): no second one.
    await pause(3_000);
    assert.equal(await reclaims(relay.url), 2);
    // New traffic that grows nothing (a refused request): its quiet spell runs no collection, so
    // a client cannot buy one pause per period.
    await work(relay.url);
    await waitFor(async () => await skipped(relay.url) === 1, 30_000, "a skipped spell");
    assert.equal(await reclaims(relay.url), 2);
    // New traffic that grows the heap, a new quiet spell: a second one.
    await growingWork(relay.url);
    await waitFor(async () => await reclaims(relay.url) === 3, 30_000, "a second reclaim");
    assert.equal((await (await fetch(`${relay.url}/health`)).json()).status, "ok");
  } finally {
    await stopRelay(relay);
  }
});

Deno.test("with no traffic since start, only the start's reclaim runs", async () => {
  const relay = await startRelay("1s");
  try {
    await pause(2_500);
    assert.equal((await (await fetch(`${relay.url}/health`)).json()).status, "ok");
    assert.equal(await reclaims(relay.url), 1);
  } finally {
    await stopRelay(relay);
  }
});

Deno.test("idle_reclaim 0s turns the reclaim off", async () => {
  const relay = await startRelay("0s");
  try {
    for (let i = 0; i < 5; i++) await work(relay.url);
    await pause(1_500);
    assert.equal(await reclaims(relay.url), 0);
    assert.ok(!relay.svc.stdout().includes("idle memory reclaim unavailable"));
  } finally {
    await stopRelay(relay);
  }
});

Deno.test("without --expose-gc the reclaim says it is unavailable; the service serves", async () => {
  const relay = await startRelay("1s", { bare: true });
  try {
    await waitFor(
      () => relay.svc.stdout().includes("idle memory reclaim unavailable"),
      10_000,
      "the unavailable notice",
    );
    const notice = relay.svc.stdout().split("\n").find((l) => l.includes("reclaim unavailable"))!;
    const rec = JSON.parse(notice);
    assert.equal(rec.level, "info");
    assert.match(rec.msg, /--v8-flags=--expose-gc/);
    assert.match(rec.msg, /idle_reclaim/);
    for (let i = 0; i < 5; i++) await work(relay.url);
    await pause(2_500);
    assert.equal(await reclaims(relay.url), 0);
    const health = await fetch(`${relay.url}/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, "ok");
  } finally {
    await stopRelay(relay);
  }
});

Deno.test("a bad idle_reclaim is a configuration error naming the setting (exit 2)", async () => {
  // Under 1s (but 0s, off) a client's one request every few milliseconds would buy a full,
  // last-resort collection each (and the timer would tick every millisecond while idle).
  for (const value of ["soon", "2d", "-1s", "1ms", "999ms"]) {
    const out = await runIatp(["relay", "--port", "0", `--idle-reclaim=${value}`]);
    assert.equal(out.code, 2, `${value}: ${out.stderr}`);
    assert.match(out.stderr, /idle_reclaim \(flag --idle-reclaim\)/, value);
  }
});

Deno.test("closing a server takes its reclaim timer off the queue", async () => {
  // In its own process with --expose-gc (the reclaim arms only with gc).
  const probe = async (periodMs: number) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "-A",
        "--v8-flags=--expose-gc",
        `${ROOT}tests/core/http/reclaim_stop_probe.ts`,
        String(periodMs),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout));
  };
  const on = await probe(60_000);
  const off = await probe(0);
  // The reclaim arms two timers more than listen does without it (the start's collection and the
  // quiet-spell check); none is left after close.
  assert.equal(on.armed, off.armed + 2, JSON.stringify({ on, off }));
  assert.equal(on.left, 0, JSON.stringify(on));
});
