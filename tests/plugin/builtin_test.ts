/**
 * Positive tests: each built-in plugin runs in the full sandbox with only what its manifest
 * declares, and does its job against real local resources (a local HTTP server, a fake service
 * manager on PATH, the real kernel counters).
 */
import assert from "node:assert/strict";
import { computeGrants, loadPlugin, PluginRunner } from "../../core/plugin/mod.ts";
import type { TriggerEvent } from "../../core/plugin/mod.ts";
import { delay, ROOT, tempDir } from "../helpers.ts";

const dir = (id: string) => `${ROOT}plugins/${id}`;

async function withRunner<T>(
  id: string,
  config: Record<string, unknown>,
  fn: (r: PluginRunner) => Promise<T>,
  env?: Record<string, string>,
): Promise<T> {
  const runner = new PluginRunner(await loadPlugin(dir(id)), { config, env });
  try {
    return await fn(runner);
  } finally {
    await runner.close();
  }
}

function only(events: TriggerEvent[], type: string): TriggerEvent {
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(events[0].type, type);
  return events[0];
}

Deno.test("every built-in plugin validates and declares only what it needs", async () => {
  const expected: Record<string, Record<string, string[]>> = {
    "cpu-monitor": { sys: ["cpus", "loadavg"] },
    "memory-monitor": { sys: ["systemMemoryInfo"] },
    "disk-monitor": { run: ["df"] },
    "http-check": { net: ["${config.urls}"] },
    "service-restart": { run: ["${config.manager}"] },
    "webhook": { net: ["${config.url}"] },
  };
  for (const [id, perms] of Object.entries(expected)) {
    const p = await loadPlugin(dir(id));
    assert.equal(p.manifest.id, id);
    const declared = Object.fromEntries(
      Object.entries(p.manifest.permissions).filter(([, v]) => v.length > 0),
    );
    assert.deepEqual(declared, perms, id);
  }
});

Deno.test("cpu-monitor: a cpu.high event with usage, threshold, cpu count and load average", async () => {
  await withRunner("cpu-monitor", { threshold: 0, sample_ms: 50 }, async (r) => {
    const res = await r.detect();
    assert.ok(res.ok, JSON.stringify(res));
    const e = only(res.value, "cpu.high");
    const d = e.data as {
      cpu_usage: number;
      threshold: number;
      cpu_count: number;
      load_average: number[];
    };
    assert.ok(d.cpu_usage >= 0 && d.cpu_usage <= 100);
    assert.equal(d.threshold, 0);
    assert.equal(d.cpu_count, navigator.hardwareConcurrency);
    assert.equal(d.load_average.length, 3);
    assert.equal(e.severity, d.cpu_usage > 90 ? "high" : "medium");
    // Second call on the warm host compares with the first reading.
    const again = await r.detect();
    assert.ok(again.ok && again.value.length === 1);
  });
  await assert.rejects(
    async () =>
      new PluginRunner(await loadPlugin(dir("cpu-monitor")), { config: { threshold: 101 } }),
    /config\.threshold: expected <= 100, found number 101/,
  );
});

Deno.test("memory-monitor: memory.high with sizes that add up", async () => {
  await withRunner("memory-monitor", { threshold: 0 }, async (r) => {
    const res = await r.detect();
    assert.ok(res.ok, JSON.stringify(res));
    const d = only(res.value, "memory.high").data as Record<string, number>;
    assert.equal(d.used_bytes + d.available_bytes, d.total_bytes);
    assert.ok(d.memory_usage > 0 && d.memory_usage < 100);
  });
  await withRunner("memory-monitor", { threshold: 100 }, async (r) => {
    const res = await r.detect();
    assert.ok(res.ok && res.value.length === 0, JSON.stringify(res));
  });
});

Deno.test("disk-monitor: disk.high for / from df, nothing at threshold 100", async () => {
  await withRunner("disk-monitor", { threshold: 0, paths: ["/"] }, async (r) => {
    const res = await r.detect();
    assert.ok(res.ok, JSON.stringify(res));
    const d = only(res.value, "disk.high").data as Record<string, unknown>;
    assert.equal(d.path, "/");
    assert.ok((d.total_bytes as number) > 0);
  });
  await withRunner("disk-monitor", { threshold: 100 }, async (r) => {
    const res = await r.detect();
    assert.ok(res.ok && res.value.length === 0, JSON.stringify(res));
  });
});

Deno.test("http-check: down and slow URLs, with net granted to exactly their host:port", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/slow") await delay(1500);
    return new Response(path, { status: path === "/broken" ? 503 : 200 });
  });
  const other = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("x"),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const plugin = await loadPlugin(dir("http-check"));
    const config = { urls: [`${base}/fine`, `${base}/broken`, `${base}/slow`], slow_ms: 1000 };
    assert.deepEqual(computeGrants(plugin.dir, plugin.manifest, config).net, [
      `127.0.0.1:${server.addr.port}`,
    ]);
    await withRunner("http-check", config, async (r) => {
      const res = await r.detect();
      assert.ok(res.ok, JSON.stringify(res));
      const byType = Object.fromEntries(res.value.map((e) => [e.type, e]));
      assert.equal(res.value.length, 2, JSON.stringify(res.value));
      assert.equal(byType["http.down"].data.url, `${base}/broken`);
      assert.equal(byType["http.down"].data.status, 503);
      assert.equal(byType["http.slow"].data.url, `${base}/slow`);
    });
    // Nothing listens on a closed port: a network error is http.down with the error text.
    const closed = other.addr.port;
    await other.shutdown();
    await withRunner("http-check", { urls: [`http://127.0.0.1:${closed}/`] }, async (r) => {
      const res = await r.detect();
      assert.ok(res.ok, JSON.stringify(res));
      const e = only(res.value, "http.down");
      assert.equal(e.data.status, undefined);
      assert.match(String(e.data.error), /fetch failed.*refused/i);
    });
  } finally {
    await server.shutdown();
    await other.shutdown().catch(() => {});
  }
});

Deno.test("service-restart: runs only the configured manager, for allow-listed valid names", async () => {
  const tmp = await tempDir("iatp-svc-");
  const log = `${tmp.path}/calls.txt`;
  // A fake systemctl on PATH records its argv: a real child process, no real services touched.
  await Deno.writeTextFile(
    `${tmp.path}/systemctl`,
    `#!/bin/sh\necho "$@" >> ${log}\necho restarted\n`,
  );
  await Deno.chmod(`${tmp.path}/systemctl`, 0o755);
  const env = { PATH: `${tmp.path}:/usr/bin:/bin` };
  try {
    await withRunner("service-restart", { allowed_services: ["nginx", "web.api-1"] }, async (r) => {
      const ok = await r.execute({ service_name: "nginx" });
      assert.ok(ok.ok, JSON.stringify(ok));
      assert.deepEqual((ok.value as Record<string, unknown>).exit_code, 0);
      assert.equal(await Deno.readTextFile(log), "restart -- nginx\n");
      for (const bad of ["nginx; rm -rf /", "a".repeat(101), "../etc", "-x", ""]) {
        const res = await r.execute({ service_name: bad });
        assert.ok(
          !res.ok && res.error.type === "error" && /service_name/.test(res.error.message),
          bad,
        );
      }
      const notAllowed = await r.execute({ service_name: "postgres" });
      assert.ok(!notAllowed.ok && /not in allowed_services/.test(notAllowed.error.message));
      assert.equal(await Deno.readTextFile(log), "restart -- nginx\n", "nothing else ran");
    }, env);
    await assert.rejects(
      async () =>
        new PluginRunner(await loadPlugin(dir("service-restart")), { config: { manager: "bash" } }),
      /config\.manager: expected one of "systemctl", "service", "docker"/,
    );
  } finally {
    await tmp.remove();
  }
});

Deno.test("webhook: POSTs JSON with retries on 503, token sent but never logged", async () => {
  const token = "whk-secret-token-4411";
  const seen: Array<{ auth: string | null; body: string }> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    seen.push({ auth: req.headers.get("authorization"), body: await req.text() });
    return new Response(null, { status: seen.length < 3 ? 503 : 204 });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/hook`;
    await withRunner("webhook", { url, token, retry_delay_ms: 10 }, async (r) => {
      const res = await r.send({ alert: "disk full", host: "web-1" });
      assert.ok(res.ok, JSON.stringify(res));
      assert.deepEqual(res.value, { status: 204, attempts: 3 });
      assert.equal(seen.length, 3);
      assert.deepEqual(JSON.parse(seen[2].body), { alert: "disk full", host: "web-1" });
      assert.equal(seen[2].auth, `Bearer ${token}`);
      assert.equal(res.logs.length, 2, "two failed attempts logged");
      assert.ok(!JSON.stringify(res).includes(token));
    });
    seen.length = 0;
    await withRunner("webhook", { url, max_retries: 1, retry_delay_ms: 10 }, async (r) => {
      const res = await r.send({ n: 1 });
      assert.ok(
        !res.ok && res.error.type === "error" && /503/.test(res.error.message),
        JSON.stringify(res),
      );
      assert.equal(seen.length, 2);
    });
  } finally {
    await server.shutdown();
  }
});
