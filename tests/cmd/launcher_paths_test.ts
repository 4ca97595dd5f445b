/**
 * Paths the user names just work through the real launcher (scripts/iatp), with every path in a
 * temp folder outside the checkout: each is granted alone, with the access it needs; values are
 * never word-split; nothing is created in the current folder; a denial that still happens is
 * told in iatp's terms.
 */
import assert from "node:assert/strict";
import { ROOT, runIatp, spawnIatp, startIatpService, tempDir, waitFor } from "../helpers.ts";

Deno.test("audit --db, relay --store sqlite: and IATP_RELAY_CONFIG outside the checkout", async () => {
  const dir = await tempDir();
  const data = `${dir.path}/data`;
  try {
    const audit = await startIatpService(["audit", "--port", "0", "--db", `${dir.path}/l/a.db`], {
      env: { IATP_DATA_DIR: data },
    });
    await audit.stop();
    assert.ok(Deno.statSync(`${dir.path}/l/a.db`).isFile, "the ledger was created");
    assert.ok(Deno.statSync(`${dir.path}/l/a.db.key`).isFile, "its key beside it");
    const verified = await runIatp(["audit", "verify", "--db", `${dir.path}/l/a.db`], {
      env: { IATP_DATA_DIR: data },
    });
    assert.equal(verified.code, 0, verified.stderr);

    await Deno.writeTextFile(`${dir.path}/relay.yaml`, `store: sqlite:${dir.path}/r/relay.db\n`);
    await Deno.mkdir(`${dir.path}/r`);
    const relay = await startIatpService(["relay", "--port", "0"], {
      env: { IATP_DATA_DIR: data, IATP_RELAY_CONFIG: `${dir.path}/relay.yaml` },
    });
    await relay.stop();
    assert.ok(Deno.statSync(`${dir.path}/r/relay.db`).isFile, "the relay store was created");
  } finally {
    await dir.remove();
  }
});

Deno.test("plugin run DIR --config JSON: a folder anywhere, the JSON never word-split", async () => {
  const dir = await tempDir();
  try {
    const plugin = `${dir.path}/my plugin`;
    await Deno.mkdir(plugin);
    for (const f of Deno.readDirSync(`${ROOT}plugins/cpu-monitor`)) {
      if (f.isFile) {
        Deno.copyFileSync(`${ROOT}plugins/cpu-monitor/${f.name}`, `${plugin}/${f.name}`);
      }
    }
    const r = await runIatp(["plugin", "run", plugin, "--config", '{"threshold": 0}'], {
      env: { IATP_DATA_DIR: `${dir.path}/data` },
      cwd: dir.path,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).ok, true, r.stdout);
    assert.ok(!Deno.readDirSync(dir.path).some((e) => e.name === "data"), "no ./data was made");
  } finally {
    await dir.remove();
  }
});

Deno.test("systemd --all DIR writes there; version creates nothing in the current folder", async () => {
  const dir = await tempDir();
  try {
    const units = `${dir.path}/units`;
    const r = await runIatp(["systemd", "--all", units], { cwd: dir.path });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Deno.statSync(`${units}/iatp-relay.service`).isFile);
    const v = await runIatp(["version"], { cwd: dir.path });
    assert.equal(v.code, 0, v.stderr);
    assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["units"]);
  } finally {
    await dir.remove();
  }
});

/** `deno run` of `entry` (a file of the checkout) with exactly `flags`: its exit code and stderr. */
async function runWith(flags: string[], entry: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-prompt", ...flags, `${ROOT}${entry}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("the audit service loads its router, schemas and YAML parser through the launcher", async () => {
  // Its line reads of the checkout only core/: the modules it imports late (core/http/app.ts,
  // core/ledger/append_schema.ts, core/config/yaml.ts) must still load with the first use.
  const dir = await tempDir();
  try {
    await Deno.mkdir(`${dir.path}/data`);
    await Deno.writeTextFile(`${dir.path}/audit.yaml`, `db: ${dir.path}/data/a.db\n`);
    const audit = await startIatpService([
      "audit",
      "--port",
      "0",
      "--config",
      `${dir.path}/audit.yaml`,
    ], {
      env: { IATP_DATA_DIR: `${dir.path}/data` },
    });
    try {
      const cp = await fetch(`${audit.url}/checkpoint`);
      assert.equal(cp.status, 200, await cp.text());
      const bad = await fetch(`${audit.url}/audit`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ x: 1 }),
      });
      assert.equal(bad.status, 422);
      assert.equal((await bad.json()).error, "invalid audit entry");
    } finally {
      await audit.stop();
    }
    assert.ok(Deno.statSync(`${dir.path}/data/a.db`).isFile, "the config file's db was used");
  } finally {
    await dir.remove();
  }
});

Deno.test("a path that is still denied is reported in iatp's terms, exit 2", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir.path}/x.db`, "");
    // main.ts run with only the checkout readable, as a launcher that granted nothing more would.
    const { code, stderr } = await runWith([`--allow-read=${ROOT}`, "--allow-env"], "main.ts", [
      "audit",
      "verify",
      "--db",
      `${dir.path}/x.db`,
    ]);
    assert.equal(code, 2, stderr);
    assert.equal(
      stderr.split("\n")[0],
      `iatp audit: permission denied: may not read ${dir.path}/x.db`,
    );
    assert.match(stderr, new RegExp(`IATP_ALLOW_READ=${dir.path}/x\\.db`));
    assert.doesNotMatch(stderr, /--allow-read|--allow-write/);
  } finally {
    await dir.remove();
  }
});

Deno.test("a refusal wrapped in a service's own error is still reported in iatp's terms, exit 2", async () => {
  const dir = await tempDir();
  try {
    // The audit service may read its folder but not write there: creating its signing key (a
    // SigningKeyError whose cause is Deno's refusal) fails before it listens.
    const { code, stderr } = await runWith(
      ["--allow-read", "--allow-net=127.0.0.1", "--allow-env"],
      "cmd/audit.ts",
      ["--port", "0", "--db", `${dir.path}/ledger.db`],
    );
    assert.equal(code, 2, stderr);
    assert.equal(
      stderr.split("\n")[0],
      `iatp audit: permission denied: may not write ${dir.path}/ledger.db.key`,
    );
    assert.match(stderr, new RegExp(`IATP_ALLOW_WRITE=${dir.path}/ledger\\.db\\.key`));
    assert.doesNotMatch(stderr, /--allow-read|--allow-write/);
    assert.deepEqual([...Deno.readDirSync(dir.path)], []);
  } finally {
    await dir.remove();
  }
});

Deno.test("up --data-dir anywhere: the mesh's files go there", async () => {
  const dir = await tempDir();
  try {
    const data = `${dir.path}/up data`;
    const up = spawnIatp(
      ["up", "--data-dir", data, "--base-port", "0", "--no-demo", "--services", "relay,audit"],
      { cwd: dir.path },
    );
    try {
      await waitFor(() => up.stdout().includes("Ctrl-C stops everything."), 60_000, "the banner");
    } finally {
      const status = await up.stop("SIGINT");
      assert.equal(status.code, 0, up.stderr());
    }
    assert.ok(Deno.statSync(`${data}/audit.db`).isFile);
    assert.ok(Deno.statSync(`${data}/credentials/admin.token`).isFile);
    assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["up data"]);
  } finally {
    await dir.remove();
  }
});

Deno.test("a checkout reached through a symlink runs: help, version and a service", async () => {
  const dir = await tempDir("iatp link ");
  try {
    const link = `${dir.path}/iatp current`;
    await Deno.symlink(ROOT.replace(/\/$/, ""), link);
    const run = async (args: string[], env: Record<string, string> = {}) => {
      const out = await new Deno.Command(`${link}/scripts/iatp`, {
        args,
        cwd: dir.path,
        env: { IATP_DATA_DIR: `${dir.path}/data`, ...env },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    const help = await run(["help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: iatp <command>/);
    const version = await run(["version"]);
    assert.equal(version.code, 0, version.stderr);
    // A service through the link: its config layer and grants resolve, and it refuses a bad
    // setting in iatp's terms (exit 2), not a permission error.
    const bad = await run(["relay", "--port", "not-a-port"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /^iatp relay: .*port/m);
    assert.doesNotMatch(bad.stderr, /permission|Requires/);
  } finally {
    await dir.remove();
  }
});

Deno.test("a path setting holding a line break grants nothing more than the paths named", async () => {
  const { COMMANDS } = await import("../../cmd/mod.ts");
  const { grantsFor } = await import("../../cmd/grants.ts");
  const dir = await tempDir();
  try {
    // The launchers read one `access<TAB>path` line per grant: a line break in a value must not
    // become a second line granting write on /etc.
    const grants = await grantsFor(COMMANDS, "policy", [
      "--relay-url",
      "http://127.0.0.1:9",
      "--state-db",
      `${dir.path}/a\nwrite\t/etc`,
    ]);
    const lines = grants.map((g) => `${g.access}\t${g.path}`).join("\n").split("\n");
    assert.ok(!lines.includes("write\t/etc"), lines.join(" | "));
    assert.ok(
      grants.every((g) => !g.path.includes("\n") && !g.path.includes("\t")),
      lines.join(" | "),
    );
  } finally {
    await dir.remove();
  }
});

Deno.test("IATP_ALLOW_READ / IATP_ALLOW_WRITE with empty items and blanks start as without them", async () => {
  const dir = await tempDir();
  try {
    // A trailing comma, a doubled one, blanks: Deno refuses an empty path, so the launcher
    // passes only the paths named.
    const env = {
      IATP_DATA_DIR: `${dir.path}/data`,
      IATP_ALLOW_READ: ` ,${dir.path}/a dir , ,`,
      IATP_ALLOW_WRITE: ",",
    };
    for (const args of [["version"], ["relay", "--help"]]) {
      const r = await runIatp(args, { env });
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
  } finally {
    await dir.remove();
  }
});
