import assert from "node:assert/strict";
import { DockerEngine, Watchdog, type WatchdogEvent } from "../../../core/docker/mod.ts";
import type { WatchdogOptions } from "../../../core/docker/watchdog.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { waitFor } from "../../helpers.ts";
import {
  buildImage,
  dockerCli,
  type Dockerd,
  ensureBusyboxImage,
  ensureDockerd,
  removeContainers,
  runContainer,
  uniqueName,
} from "../../support/dockerd.ts";

/** The test Docker daemon; tests that need it are ignored (never passed) without one. */
const dockerd = await ensureDockerd();

const LOOP = "trap 'exit 0' TERM; while true; do sleep 1; done";
/** Events can take a while on a loaded 2-core machine; only order and values are asserted. */
const EVENT_TIMEOUT_MS = 60_000;

/** Runs a watchdog over `names` with small test timings; records every event. */
async function withWatchdog(
  d: Dockerd,
  names: string[],
  overrides: Partial<WatchdogOptions>,
  body: (events: WatchdogEvent[], engine: DockerEngine) => Promise<void>,
) {
  const engine = new DockerEngine({ socket: d.socket });
  const events: WatchdogEvent[] = [];
  const wd = new Watchdog({
    engine,
    names,
    checkIntervalMs: 300,
    backoffBaseMs: 200,
    backoffFactor: 1.5,
    maxAttempts: 5,
    cooldownMs: 60_000,
    startPeriodMs: 0,
    stableAfterMs: 600,
    restartTimeoutSecs: 1,
    onEvent: (e) => events.push(e),
    log: silentLogger,
    ...overrides,
  });
  wd.start();
  try {
    await body(events, engine);
  } finally {
    await wd.close();
    engine.close();
    await removeContainers(d.socket, names);
  }
}

const has = (events: WatchdogEvent[], action: string, n = 1) => () =>
  events.filter((e) => e.action === action).length >= n;

async function docker(): Promise<Dockerd> {
  await ensureBusyboxImage(dockerd.socket);
  return dockerd;
}

Deno.test({
  name: "watchdog brings back a container killed with kill -9",
  ignore: !dockerd.available,
}, async () => {
  const d = await docker();
  const name = uniqueName("iatp-wd-kill");
  await runContainer(d.socket, name, ["iatp-test/busybox:1", "sh", "-c", LOOP]);
  await withWatchdog(d, [name], {}, async (events, engine) => {
    const pid = (await engine.inspect(name)).State.Pid;
    assert.ok(pid > 0);
    Deno.kill(pid, "SIGKILL");
    await waitFor(has(events, "recovered"), EVENT_TIMEOUT_MS, "recovered");
    const [scheduled, restarted] = [events[0], events[1]];
    assert.deepEqual(
      [scheduled.action, scheduled.reason, scheduled.delay_ms, scheduled.exit_code],
      [
        "scheduled",
        "exited",
        200,
        137,
      ],
    );
    assert.deepEqual([restarted.action, restarted.attempt], ["restarted", 1]);
    assert.equal((await engine.inspect(name)).State.Running, true);
  });
});

Deno.test({
  name: "watchdog restarts a container its HEALTHCHECK reports unhealthy",
  ignore: !dockerd.available,
}, async () => {
  const d = await docker();
  const image = "iatp-test/busybox-health:1";
  await buildImage(
    d.socket,
    image,
    "FROM iatp-test/busybox:1\n" +
      "HEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD test -f /tmp/ok\n",
  );
  const name = uniqueName("iatp-wd-health");
  await runContainer(d.socket, name, [image, "sh", "-c", `touch /tmp/ok; ${LOOP}`]);
  await withWatchdog(d, [name], {}, async (events, engine) => {
    await waitFor(
      async () => (await engine.inspect(name)).State.Health?.Status === "healthy",
      EVENT_TIMEOUT_MS,
      "healthy",
    );
    assert.equal(events.length, 0, "a healthy container is left alone");
    const rm = await dockerCli(d.socket, ["exec", name, "rm", "/tmp/ok"]);
    assert.equal(rm.code, 0, rm.stderr);
    await waitFor(has(events, "recovered"), EVENT_TIMEOUT_MS, "recovered");
    const s = events.find((e) => e.action === "scheduled")!;
    assert.deepEqual([s.reason, s.health, s.delay_ms], ["unhealthy", "unhealthy", 200]);
    assert.equal(events.find((e) => e.action === "recovered")!.health, "healthy");
  });
});

Deno.test({
  name: "watchdog backs off, gives up with one alert, retries after the cool-down",
  ignore: !dockerd.available,
}, async () => {
  const d = await docker();
  const name = uniqueName("iatp-wd-crash");
  await runContainer(d.socket, name, ["iatp-test/busybox:1", "sh", "-c", "exit 3"]);
  await withWatchdog(d, [name], { maxAttempts: 3, cooldownMs: 2_000 }, async (events) => {
    await waitFor(
      has(events, "scheduled", 4),
      EVENT_TIMEOUT_MS,
      "a scheduled restart after cool-down",
    );
    const seq = events.map((e) => e.action === "scheduled" ? `scheduled:${e.delay_ms}` : e.action);
    assert.deepEqual(seq.slice(0, 9), [
      "scheduled:200",
      "restarted",
      "scheduled:300",
      "restarted",
      "scheduled:450",
      "restarted",
      "gave_up",
      "cooldown_over",
      "scheduled:200",
    ]);
    const gaveUp = events.find((e) => e.action === "gave_up")!;
    assert.deepEqual([gaveUp.attempt, gaveUp.exit_code, gaveUp.reason], [3, 3, "exited"]);
  });
});

Deno.test({
  name: "a GLIBC failure is restarted at once and reported as glibc_mismatch",
  ignore: !dockerd.available,
}, async () => {
  const d = await docker();
  const name = uniqueName("iatp-wd-glibc");
  const msg =
    "/app/server: /lib/x86_64-linux-gnu/libc.so.6: version GLIBC_2.34 not found (required by /app/server)";
  await runContainer(d.socket, name, [
    "iatp-test/busybox:1",
    "sh",
    "-c",
    `echo "${msg}" >&2; exit 1`,
  ]);
  await withWatchdog(d, [name], {}, async (events) => {
    await waitFor(has(events, "restarted"), EVENT_TIMEOUT_MS, "restart");
    const s = events[0];
    assert.deepEqual([s.action, s.reason, s.delay_ms], ["scheduled", "glibc_mismatch", 0]);
    assert.equal(events[1].reason, "glibc_mismatch");
  });
});

Deno.test({
  name: "an intentionally stopped container is left down; label selectors add targets",
  ignore: !dockerd.available,
}, async () => {
  const d = await docker();
  const name = uniqueName("iatp-wd-label");
  const label = `iatp.test.watch=${name}`;
  await runContainer(d.socket, name, ["--label", label, "iatp-test/busybox:1", "sh", "-c", LOOP]);
  const engine = new DockerEngine({ socket: d.socket });
  const events: WatchdogEvent[] = [];
  const wd = new Watchdog({
    engine,
    names: [],
    label,
    checkIntervalMs: 200,
    backoffBaseMs: 100,
    onEvent: (e) => events.push(e),
    log: silentLogger,
  });
  try {
    assert.deepEqual(await wd.targets(), [name]);
    wd.markIntentionalStop(name);
    await engine.stop(name, 1);
    wd.start();
    await wd.checkOnce();
    await wd.checkOnce();
    assert.equal(events.length, 0);
    wd.clearIntentionalStop(name);
    await waitFor(has(events, "restarted"), EVENT_TIMEOUT_MS, "restart after intent cleared");
  } finally {
    await wd.close();
    engine.close();
    await removeContainers(d.socket, [name]);
  }
});
