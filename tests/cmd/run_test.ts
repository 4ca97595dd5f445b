/**
 * A service started from its own file (cmd/run.ts): the launchers' table of entries matches the
 * command table and scripts/iatp, each entry file runs its command, and the process the launcher
 * starts is that file, answering exactly as `main.ts <service>` would, errors included.
 */
import assert from "node:assert/strict";
import { COMMANDS } from "../../cmd/mod.ts";
import { entryOf, SERVICE_ENTRIES } from "../../cmd/permissions.ts";
import { freePort, ROOT, runIatp, spawnIatp, tempDir, waitForOk } from "../helpers.ts";

Deno.test("every service entry names a command, and scripts/iatp starts the same ones", async () => {
  const names = new Set(COMMANDS.map((c) => c.name));
  for (const [name, file] of SERVICE_ENTRIES) {
    assert.ok(names.has(name), `${name} is not a command`);
    const text = await Deno.readTextFile(`${ROOT}${file}`);
    assert.ok(
      text.trimEnd().endsWith(`if (import.meta.main) await runAsEntry("${name}", command);`),
      `${file} must end by running itself as "${name}" when it is the entry`,
    );
  }
  const launcher = await Deno.readTextFile(`${ROOT}scripts/iatp`);
  const listed = /^ {2}([a-z| -]+)\)\n\s+exec "\$deno" run .*\n\s+"\$IATP_ROOT\/cmd\//m.exec(
    launcher,
  );
  assert.ok(listed, "scripts/iatp has no case that starts a service from its own file");
  assert.deepEqual(listed[1].split("|").map((s) => s.trim()), [...SERVICE_ENTRIES.keys()]);
});

Deno.test("entryOf: a service runs from its own file without its name, anything else from main.ts", () => {
  assert.deepEqual(entryOf(["relay", "--port", "1"]), {
    file: "cmd/relay.ts",
    args: ["--port", "1"],
  });
  assert.deepEqual(entryOf(["compose-agent"]), { file: "cmd/compose_agent.ts", args: [] });
  assert.deepEqual(entryOf(["token", "issue"]), { file: "main.ts", args: ["token", "issue"] });
  assert.deepEqual(entryOf(["up"]), { file: "main.ts", args: ["up"] });
  assert.deepEqual(entryOf([]), { file: "main.ts", args: [] });
  assert.deepEqual(entryOf(["no-such"]), { file: "main.ts", args: ["no-such"] });
});

Deno.test("scripts/iatp relay runs cmd/relay.ts, which serves as iatp relay", async () => {
  const dir = await tempDir();
  const port = freePort();
  const relay = spawnIatp(["relay", "--port", String(port), "--workers", "1"], {
    env: { IATP_DATA_DIR: dir.path },
  });
  try {
    await waitForOk(`http://127.0.0.1:${port}/health`);
    // The launcher execs Deno: the child's own command line names the entry file.
    const argv = (await Deno.readTextFile(`/proc/${relay.process.pid}/cmdline`)).split("\0");
    const at = argv.indexOf(`${ROOT}cmd/relay.ts`);
    assert.ok(at > 0, `not started from cmd/relay.ts: ${argv.join(" ")}`);
    assert.deepEqual(argv.slice(at + 1, -1), ["--port", String(port), "--workers", "1"]);
  } finally {
    const status = await relay.stop();
    await dir.remove();
    assert.equal(status.code, 0, relay.stderr());
  }
});

Deno.test("a service's own file reports errors as main.ts does: same message, same exit code", async () => {
  const dir = await tempDir();
  const env = { IATP_DATA_DIR: dir.path };
  try {
    const cases = [
      ["relay", "--port", "not-a-port"], // a setting's error: exit 2, naming the setting
      ["audit", "--no-such-flag"], // usage: exit 2
      ["dashboard", "--help"], // help: exit 0
    ];
    for (const args of cases) {
      const viaEntry = await runIatp(args, { env });
      const viaMain = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", "--cached-only", `${ROOT}main.ts`, ...args],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(viaEntry.code, viaMain.code, args.join(" "));
      assert.equal(viaEntry.stderr, dec.decode(viaMain.stderr), args.join(" "));
      assert.equal(viaEntry.stdout, dec.decode(viaMain.stdout), args.join(" "));
    }
    const bad = await runIatp(["relay", "--port", "not-a-port"], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^iatp relay: .*port/m);
  } finally {
    await dir.remove();
  }
});

Deno.test("cmd/grants.ts, the launchers' grants child, prints what iatp __grants prints", async () => {
  const dir = await tempDir("iatp grants ");
  try {
    await Deno.writeTextFile(`${dir.path}/c.yaml`, "log_level: info\n");
    const cases = [
      ["audit", "--db", `${dir.path}/new folder/audit.db`],
      ["sidecar", "--config", `${dir.path}/c.yaml`],
      ["compose-agent", "--config", `${dir.path}/c.yaml`],
      ["up", "--data-dir", `${dir.path}/up data`],
      ["token", "issue", "--key", `${dir.path}/issuer.key`],
      ["no-such-command"],
    ];
    const run = async (args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          "--no-prompt",
          "--cached-only",
          "--allow-read",
          "--allow-env",
          ...args,
        ],
        stdout: "piped",
        stderr: "null",
      }).output();
      return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
    };
    let named = 0;
    for (const argv of cases) {
      const entry = await run([`${ROOT}cmd/grants.ts`, ...argv]);
      const viaMain = await run([`${ROOT}main.ts`, "__grants", ...argv]);
      assert.deepEqual(entry, viaMain, argv.join(" "));
      if (entry.stdout.includes(dir.path)) named++;
    }
    assert.ok(named >= 4, "the cases name paths, so the comparison is not of empty outputs");
  } finally {
    await dir.remove();
  }
});
