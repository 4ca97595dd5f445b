import assert from "node:assert/strict";
import { COMMANDS } from "../../cmd/mod.ts";
import { VERSION } from "../../core/version/mod.ts";
import { ROOT, runIatp, tempDir } from "../helpers.ts";

/** Every command `iatp --help` lists, written out so a command dropped from the table fails. */
const VISIBLE = [
  "sidecar",
  "relay",
  "policy",
  "audit",
  "dashboard",
  "sensor",
  "action",
  "compose-agent",
  "status",
  "token",
  "plugin",
  "systemd",
  "config",
  "up",
  "version",
  "help",
];

Deno.test("iatp --help lists exactly the visible commands and exits 0", async () => {
  const r = await runIatp(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  const listed = [...r.stdout.matchAll(/^ {2}([a-z-]+) {2,}\S/gm)].map((m) => m[1]);
  assert.deepEqual(listed, VISIBLE);
  assert.deepEqual(COMMANDS.filter((c) => !c.hidden).map((c) => c.name), VISIBLE);
  assert.deepEqual(COMMANDS.filter((c) => c.hidden).map((c) => c.name), [
    "plugin-host",
    "__grants",
  ]);
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
    assert.equal(r.code, 0, `${c.name} --help: ${r.stderr}`);
    assert.match(r.stdout, /Usage:\s+iatp/, c.name);
  }
});

Deno.test("every sub-verb answers --help with usage and exit 0", async () => {
  const verbs = [
    ["config", "show"],
    ["config", "check"],
    ["config", "show", "relay"],
    ["config", "check", "relay"],
    ["token", "keygen"],
    ["token", "issue"],
    ["token", "inspect"],
    ["plugin", "init"],
    ["plugin", "run"],
    ["plugin", "sign"],
    ["sidecar", "verify-attestation"],
    ["audit", "verify"],
  ];
  const failed: string[] = [];
  for (const args of verbs) {
    const r = await runIatp([...args, "--help"]);
    if (r.code !== 0 || !/Usage:\s+iatp/.test(r.stdout)) {
      failed.push(`${args.join(" ")} --help: exit ${r.code} ${r.stderr.split("\n")[0]}`);
    }
  }
  assert.deepEqual(failed, []);
});

Deno.test("every usage line of a command's --help is a command line that starts with iatp", async () => {
  // A sub-verb's line read "       verify-attestation URL ..." under "Usage: iatp sidecar [flags]",
  // and its own help "       URL [--public-key ...]": neither runs as printed.
  for (
    const args of [["sidecar"], ["sidecar", "verify-attestation"], ["audit"], ["audit", "verify"]]
  ) {
    const r = await runIatp([...args, "--help"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    const usage = [lines[0], ...lines.slice(1).filter((l) => /^ {7}\S/.test(l))];
    assert.match(usage[0], new RegExp(`^Usage: iatp ${args.join(" ")} `));
    for (const l of usage.slice(1)) {
      assert.match(l, new RegExp(`^ {7}iatp ${args[0]} `), `${args.join(" ")}: ${l}`);
    }
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
    // A Deno of the pinned minor version on that PATH is used as is; otherwise the launcher
    // fetched the pinned one into the git-ignored .deno/ folder.
    const deno = new Deno.Command("bash", {
      args: [
        "-c",
        `d="$(PATH=/usr/local/bin:/usr/bin:/bin command -v deno)" && ` +
        `"$d" --version | head -n 1 | grep -q '^deno 2\\.9\\.' || ` +
        `ls ${ROOT}.deno/node_modules/@deno/*/deno`,
      ],
    });
    const out = await deno.output();
    assert.equal(out.code, 0, "a pinned Deno on PATH, or the one fetched into .deno/");
  } finally {
    await dir.remove();
  }
});

Deno.test("a missing config file exits 2 with one line naming the file", async () => {
  const r = await runIatp(["relay", "--config", "missing.yaml"]);
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^iatp relay: config error: .*missing\.yaml.*no such file/);
});

Deno.test('port: "abc" in YAML exits 2 naming port, its line and the expected type', async () => {
  const dir = await tempDir();
  try {
    const file = `${dir.path}/relay.yaml`;
    await Deno.writeTextFile(file, 'log_level: info\nport: "abc"\n');
    const r = await runIatp(["relay", "--config", file]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr.trim(),
      `iatp relay: config error: port (${file}:2): expected an integer from 0 to 65535, found string "abc"`,
    );
    await Deno.writeTextFile(file, "port: 8005\nbogus_key: 1\n");
    const unknown = await runIatp(["relay", "--config", file]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /bogus_key \(.*relay\.yaml:2\): expected one of the known keys/);
    await Deno.writeTextFile(file, "port: [unclosed\n");
    const notYaml = await runIatp(["relay", "--config", file]);
    assert.equal(notYaml.code, 2);
    assert.match(notYaml.stderr, /expected valid YAML/);
  } finally {
    await dir.remove();
  }
});

Deno.test("a bad env value exits 2 naming the env var; a bad flag names the flag", async () => {
  const env = await runIatp(["relay"], { env: { IATP_RELAY_PORT: "eighty" } });
  assert.equal(env.code, 2);
  assert.match(
    env.stderr,
    /^iatp relay: config error: port \(env IATP_RELAY_PORT\): expected an integer/,
  );
  const flag = await runIatp(["relay", "--port", "99999"]);
  assert.equal(flag.code, 2);
  assert.match(
    flag.stderr,
    /port \(flag --port\): expected an integer from 0 to 65535, found string "99999"/,
  );
  assert.ok(
    !env.stderr.includes("    at ") && !flag.stderr.includes("    at "),
    "stack trace printed",
  );
});
