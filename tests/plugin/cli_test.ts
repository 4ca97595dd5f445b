/**
 * `iatp plugin validate|run` through scripts/iatp, i.e. with exactly the permission-table flags:
 * exit codes, messages naming the problem, no stack traces.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runIatp } from "../helpers.ts";
import { makePlugin } from "./plugin_helpers.ts";

const EVIL = fileURLToPath(new URL("./escape/fixtures/evil", import.meta.url));

Deno.test("validate: a built-in plugin passes with a summary", async () => {
  const r = await runIatp(["plugin", "validate", "plugins/http-check"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok: http-check 1\.0\.0 \(trigger\), 1 module\(s\) audited/);
  const j = await runIatp(["plugin", "validate", "plugins/webhook", "--json"]);
  assert.equal(JSON.parse(j.stdout).kind, "output");
});

Deno.test("validate and run: a DIR that is missing or a file exits 2 naming it", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "iatp plugin ü " });
  try {
    const file = `${tmp}/plugin.yaml`;
    await Deno.writeTextFile(file, "id: x\n");
    const env = { IATP_ALLOW_READ: tmp };
    for (const verb of ["validate", "run"]) {
      const missing = await runIatp(["plugin", verb, `${tmp}/none`], { env });
      assert.equal(missing.code, 2, missing.stderr);
      assert.equal(missing.stderr.trim(), `iatp plugin: no such folder ${tmp}/none`);
      const notDir = await runIatp(["plugin", verb, file], { env });
      assert.equal(notDir.code, 2, notDir.stderr);
      assert.equal(
        notDir.stderr.trim(),
        `iatp plugin: ${file} is not a folder (a plugin is a folder)`,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("validate: a failed audit exits 1 naming the import; a bad manifest names the field", async () => {
  const p = await makePlugin({
    "mod.ts": 'import { execSync } from "node:child_process";\nexport const execute = () => 1;',
  });
  try {
    const env = { IATP_ALLOW_READ: p.root };
    const r = await runIatp(["plugin", "validate", p.dir], { env });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /import_denied: import audit failed:\n\s+mod\.ts: import "node:child_process": Node built-in not allowed/,
    );
    assert.doesNotMatch(r.stderr, /\bat file:/, "no stack trace");
    await Deno.writeTextFile(
      `${p.dir}/plugin.yaml`,
      "id: x\nname: y\nversion: 1.0.0\nkind: action\n",
    );
    const m = await runIatp(["plugin", "validate", p.dir], { env });
    assert.equal(m.code, 1);
    assert.match(m.stderr, /invalid_manifest: .*plugin\.yaml: id: must match/);
  } finally {
    await p.remove();
  }
});

Deno.test("run: one sandboxed call printed as JSON; config errors exit 2 naming the key", async () => {
  const ok = await runIatp([
    "plugin",
    "run",
    "plugins/memory-monitor",
    "--config",
    '{"threshold":0}',
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  const res = JSON.parse(ok.stdout);
  assert.equal(res.ok, true);
  assert.equal(res.value[0].type, "memory.high");
  const bad = await runIatp([
    "plugin",
    "run",
    "plugins/memory-monitor",
    "--config",
    '{"threshold":"x"}',
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /config\.threshold: expected a number, found string "x"/);
  const badJson = await runIatp(["plugin", "run", "plugins/service-restart", "--input", "{nope"]);
  assert.equal(badJson.code, 2);
  assert.match(badJson.stderr, /--input: not valid JSON/);
  const verb = await runIatp(["plugin", "frobnicate", "x"]);
  assert.equal(verb.code, 2);
});

Deno.test("run: a --timeout that is not a duration is a usage error, whatever the plugin's kind", async () => {
  for (const timeout of ["abc", "-1s", "0", "30d"]) {
    const r = await runIatp(["plugin", "run", "plugins/http-check", `--timeout=${timeout}`]);
    assert.equal(r.code, 2, `${timeout}: ${r.stderr}`);
    assert.match(r.stderr, /--timeout: expected a duration such as 500ms or 2s/);
    assert.equal(r.stdout, "", "nothing ran");
  }
});

Deno.test("run: a plugin that loops is killed at --timeout and reported as a typed failure", async () => {
  const r = await runIatp([
    "plugin",
    "run",
    EVIL,
    "--config",
    JSON.stringify({ allowed_url: "http://127.0.0.1:1/", scratch: "/tmp/none" }),
    "--input",
    '{"case":"loop"}',
    "--timeout",
    "1s",
  ]);
  assert.equal(r.code, 1, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.ok, false);
  assert.equal(res.error.type, "timeout");
});

Deno.test("run: a sandbox refusal names the manifest field and entry that would grant it", async () => {
  const p = await makePlugin({
    "mod.ts": `export const execute = (_ctx: unknown, req: { case: string }) => {
  if (req.case === "read") return Deno.readTextFileSync("/etc/hostname");
  if (req.case === "env") return Deno.env.get("HOME");
  if (req.case === "sys") return Deno.hostname();
  if (req.case === "run") return new Deno.Command("id").outputSync().code;
  if (req.case === "all-env") return Deno.env.toObject();
  const url = ["https://example.com", "x.ts"].join("/");
  return import(url);
};`,
  });
  try {
    const env = { IATP_ALLOW_READ: p.root };
    const want: Record<string, string> = {
      read: 'Requires read access to "/etc/hostname": not declared in plugin.yaml ' +
        '(add "/etc/hostname" to permissions.read)',
      env: 'Requires env access to "HOME": not declared in plugin.yaml ' +
        '(add "HOME" to permissions.env)',
      sys: 'Requires sys access to "hostname": not declared in plugin.yaml ' +
        '(add "hostname" to permissions.sys)',
      run: '(add "id" to permissions.run)',
      "all-env": "Requires env access: not declared in plugin.yaml " +
        "(declare the exact entries it needs under permissions.env)",
      import: "a plugin imports only files inside its folder",
    };
    for (const [name, text] of Object.entries(want)) {
      const input = JSON.stringify({ case: name });
      const r = await runIatp(["plugin", "run", p.dir, "--input", input], { env });
      assert.equal(r.code, 1, r.stderr);
      const res = JSON.parse(r.stdout);
      assert.equal(res.error.type, "denied", `${name}: ${r.stdout}`);
      assert.ok(res.error.message.includes(text), `${name}: ${res.error.message}`);
      assert.doesNotMatch(res.error.message, /--allow-/, "no Deno flag the author cannot pass");
    }
  } finally {
    await p.remove();
  }
});

Deno.test("validate: a module with a syntax error is named as one, by its place in the folder", async () => {
  const p = await makePlugin({ "mod.ts": "export const execute = ( => 1;\n" });
  try {
    const r = await runIatp(["plugin", "validate", p.dir], { env: { IATP_ALLOW_READ: p.root } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /mod\.ts: syntax error \(the lexer stopped at mod\.ts:1:1\)/);
    assert.match(r.stderr, /`deno check mod\.ts` in the plugin folder names it/);
    assert.ok(!r.stderr.includes(`${p.dir}/mod.ts`), `no absolute path: ${r.stderr}`);
  } finally {
    await p.remove();
  }
});

Deno.test("validate: an entry that does not export its kind's function fails, naming both", async () => {
  const p = await makePlugin({ "mod.ts": "export const nope = 1;\n" });
  try {
    const r = await runIatp(["plugin", "validate", p.dir], { env: { IATP_ALLOW_READ: p.root } });
    assert.equal(r.code, 1, r.stdout);
    assert.match(
      r.stderr,
      /invalid_manifest: mod\.ts: an action plugin's entry must export execute\(\) \(it exports nope\); or change kind in .*plugin\.yaml/,
    );
  } finally {
    await p.remove();
  }
});

Deno.test("validate: a folder without plugin.yaml, or with one that is not UTF-8, says so plainly", async () => {
  const p = await makePlugin({ "mod.ts": "export const execute = () => 1;\n" });
  try {
    const env = { IATP_ALLOW_READ: p.root };
    await Deno.writeFile(`${p.dir}/plugin.yaml`, new Uint8Array([0x69, 0x64, 0x3a, 0x20, 0xff]));
    const bad = await runIatp(["plugin", "validate", p.dir], { env });
    assert.equal(bad.code, 1, bad.stdout);
    assert.equal(
      bad.stderr.trim(),
      `iatp plugin: invalid_manifest: ${p.dir}/plugin.yaml: not valid UTF-8`,
    );
    await Deno.remove(`${p.dir}/plugin.yaml`);
    const none = await runIatp(["plugin", "validate", p.dir], { env });
    assert.equal(none.code, 1, none.stdout);
    assert.equal(
      none.stderr.trim(),
      `iatp plugin: not_found: ${p.dir}/plugin.yaml: no such file ` +
        "(a plugin folder holds its manifest, plugin.yaml)",
    );
  } finally {
    await p.remove();
  }
});

Deno.test("validate: a Python plugin's summary does not claim an import audit", async () => {
  const r = await runIatp(["plugin", "validate", "tests/plugin/external/fixtures/py-argv-action"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^ok: py-argv-action 0\.1\.0 \(action\), python entry main\.py \(its imports are not audited/,
  );
});

Deno.test("run: a flag the call would not use is a usage error naming why", async () => {
  const trigger = await makePlugin(
    { "mod.ts": "export const detect = () => [];\n" },
    { kind: "trigger", permissions: { env: ["APP_REGION"] } },
  );
  try {
    const env = { IATP_ALLOW_READ: trigger.root };
    const cases: Array<[string[], string]> = [
      [["--timeout", "2s"], "--timeout: only an execute call takes one (this call is detect)"],
      [["--input", "{}"], "--input: detect() takes no input"],
      [
        ["--env", "APP_ZONE=eu"],
        '--env APP_ZONE: not declared in plugin.yaml, so the plugin would not see it (add "APP_ZONE" to permissions.env)',
      ],
    ];
    for (const [flags, text] of cases) {
      const r = await runIatp(["plugin", "run", trigger.dir, ...flags], { env });
      assert.equal(r.code, 2, `${flags}: ${r.stdout}`);
      assert.ok(r.stderr.includes(text), `${flags}: ${r.stderr}`);
      assert.equal(r.stdout, "", "nothing ran");
    }
    const ok = await runIatp(["plugin", "run", trigger.dir, "--env", "APP_REGION=eu"], { env });
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await trigger.remove();
  }
});

Deno.test("run: a crashed host's output is logged on stderr under the incident id its result names", async () => {
  let deep: unknown = [];
  for (let i = 0; i < 5_000; i++) deep = [deep];
  const r = await runIatp([
    "plugin",
    "run",
    "plugins/service-restart",
    "--input",
    JSON.stringify({ x: deep }),
  ]);
  assert.equal(r.code, 1, r.stderr);
  const res = JSON.parse(r.stdout);
  const m = /^plugin host exited \(code 1\); details in the local log, incident ([0-9a-f]{8})$/
    .exec(res.error.message);
  assert.ok(m, r.stdout);
  const line = r.stderr.split("\n").find((l) => l.includes(m[1]));
  assert.ok(line, r.stderr);
  assert.match(JSON.parse(line).fields.output, /BoundedLineReader/);
});
