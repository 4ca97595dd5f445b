/** Grants: declared permissions expanded from config into Worker permissions and child flags. */
import assert from "node:assert/strict";
import { parseManifest } from "../../../core/plugin/manifest.ts";
import {
  computeGrants,
  hostCommand,
  netGrant,
  workerPermissions,
} from "../../../core/plugin/grants.ts";

const m = parseManifest(
  `id: gg
name: G
version: 1.0.0
kind: trigger
config:
  urls: {type: array, items: string}
  out: {type: string}
permissions:
  net: ["\${config.urls}", "example.org:8443"]
  read: [data, /var/log/app.log]
  write: ["\${config.out}"]
  env: [APP_TOKEN]
  sys: [loadavg]
limits: {memory_mb: 48}
`,
  "plugin.yaml",
);

Deno.test("config references expand; URLs become host:port; relative paths resolve in the folder", () => {
  const g = computeGrants("/plugins/g", m, {
    urls: ["https://api.example.com/v1", "http://127.0.0.1:8080/x", "https://api.example.com/v2"],
    out: "/tmp/out",
  });
  assert.deepEqual(g, {
    net: ["api.example.com:443", "127.0.0.1:8080", "example.org:8443"],
    read: ["/plugins/g/data", "/var/log/app.log"],
    write: ["/tmp/out"],
    env: ["APP_TOKEN"],
    run: [],
    sys: ["loadavg"],
  });
  assert.deepEqual(
    computeGrants("/plugins/g", m, {}).write,
    [],
    "an unset reference grants nothing",
  );
});

Deno.test("a config value cannot smuggle a second grant through a comma", () => {
  assert.throws(
    () => computeGrants("/p", m, { out: "/tmp/a,/etc" }),
    /config\.out: expected non-empty strings without commas/,
  );
  assert.throws(() => netGrant("evil.com;rm"), /not host:port/);
});

Deno.test("the child gets exactly the grants as flags, a heap cap, and no config/npm/remote", () => {
  const g = computeGrants("/plugins/g", m, { urls: ["http://127.0.0.1:9/"] });
  const c = hostCommand("/plugins/g", g, m.limits, {});
  assert.equal(c.compiled, false);
  const flags = c.args.filter((a) => a.startsWith("--"));
  for (
    const f of [
      "--no-config",
      "--no-npm",
      "--no-remote",
      "--no-prompt",
      "--v8-flags=--max-old-space-size=48",
    ]
  ) {
    assert.ok(flags.includes(f), f);
  }
  assert.ok(flags.includes("--allow-net=127.0.0.1:9,example.org:8443"));
  assert.ok(flags.includes("--allow-env=APP_TOKEN"));
  assert.ok(flags.includes("--allow-sys=loadavg"));
  const read = flags.find((f) => f.startsWith("--allow-read="))!;
  assert.match(
    read,
    /^--allow-read=\/plugins\/g,\/.+\/core\/plugin\/js\/worker_entry\.js,\/plugins\/g\/data,\/var\/log\/app\.log$/,
  );
  assert.ok(
    !flags.some((f) =>
      f.startsWith("--allow-run") || f.startsWith("--allow-write") || f === "--allow-all"
    ),
  );
  const w = workerPermissions("/plugins/g", g);
  assert.deepEqual(w.read, ["/plugins/g", "/plugins/g/data", "/var/log/app.log"]);
  assert.equal(w.run, false);
  assert.equal(w.ffi, false);
});
