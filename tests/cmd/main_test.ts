import assert from "node:assert/strict";
import { COMMANDS } from "../../cmd/mod.ts";
import { VERSION } from "../../core/version.ts";
import { ROOT, runIatp, tempDir } from "../helpers.ts";

const TWELVE = [
  "sidecar",
  "sensor",
  "action",
  "relay",
  "policy",
  "audit",
  "dashboard",
  "compose-agent",
  "status",
  "up",
  "version",
  "help",
];

Deno.test("iatp --help lists all twelve commands and exits 0", async () => {
  const r = await runIatp(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  for (const name of TWELVE) {
    assert.match(r.stdout, new RegExp(`^  ${name} `, "m"), `--help lacks ${name}`);
  }
  assert.ok(!r.stdout.includes("plugin-host"), "hidden commands are not listed");
});

Deno.test("iatp version prints the version, commit and Deno version", async () => {
  const r = await runIatp(["version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `^iatp ${
        VERSION.replace(/\./g, "\\.")
      } \\(commit [0-9a-f]{7,40}|unknown\\) deno 2\\.9\\.\\d+`,
    ),
  );
  const json = await runIatp(["version", "--json"]);
  const info = JSON.parse(json.stdout);
  assert.equal(info.version, VERSION);
  assert.match(info.deno, /^2\.9\./);
});

Deno.test("unknown subcommand prints usage to stderr and exits 2", async () => {
  const r = await runIatp(["frobnicate"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
  assert.match(r.stderr, /Usage: iatp <command>/);
});

Deno.test("unknown flag prints usage and exits 2, no stack trace", async () => {
  const r = await runIatp(["version", "--bogus"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bogus/);
  assert.match(r.stderr, /Usage: iatp version/);
  assert.ok(!r.stderr.includes("    at "), r.stderr);
});

Deno.test("help <command> prints that command's usage; help for unknown exits 2", async () => {
  const r = await runIatp(["help", "version"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: iatp version/);
  const bad = await runIatp(["help", "nope"]);
  assert.equal(bad.code, 2);
});

Deno.test("every command answers --help with usage and exit 0", async () => {
  for (const c of COMMANDS) {
    const r = await runIatp([c.name, "--help"]);
    if (r.stderr.includes("not built yet")) continue;
    assert.equal(r.code, 0, `${c.name} --help: ${r.stderr}`);
    assert.match(r.stdout, /Usage:\s+iatp/, c.name);
  }
});

Deno.test("the launcher works with no Deno on PATH (uses or fetches the pinned one)", async () => {
  const dir = await tempDir();
  try {
    const r = await runIatp(["version"], {
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", DENO_BIN: "", IATP_DATA_DIR: dir.path },
      timeoutMs: 300_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deno 2\.9\./);
    const deno = new Deno.Command("bash", {
      args: ["-c", `ls ${ROOT}.deno/node_modules/@deno/*/deno`],
    });
    const out = await deno.output();
    assert.equal(out.code, 0, "the pinned Deno lives in the git-ignored .deno/ folder");
  } finally {
    await dir.remove();
  }
});
