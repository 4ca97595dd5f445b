/**
 * Errors tell the truth, through the real launcher: a refused secret is shown only by its size,
 * a value is reported from where it really came, a taken port names the service and the port,
 * a malformed verifier key is a usage error, and every documented duration form is accepted.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { spec as policySpec } from "../../cmd/policy.ts";
import { spec as relaySpec } from "../../cmd/relay.ts";
import { generateKeyPair } from "../../core/crypto/mod.ts";
import { Ledger, LedgerStore } from "../../core/ledger/mod.ts";
import { LAUNCHER, runIatp, startIatpService, tempDir } from "../helpers.ts";
import { loaded } from "../helpers.ts";

Deno.test("a refused secret is shown as (secret, N chars), never echoed", async () => {
  const dir = await tempDir();
  try {
    const token = "do-not-print-this-token-1";
    const r = await runIatp(["relay", "--port", "0"], {
      env: { IATP_DATA_DIR: dir.path, IATP_RELAY_TOKENS: `{"${token}": ["no-such-scope"]}` },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /tokens \(env IATP_RELAY_TOKENS\): expected .*found \(secret, 48 chars\)/,
    );
    assert.ok(!(r.stderr + r.stdout).includes(token), "the token reached the terminal");
  } finally {
    await dir.remove();
  }
});

Deno.test("a value that fails at start is reported from its real source (the flag)", async () => {
  const dir = await tempDir();
  try {
    const r = await runIatp(["sidecar", "--port", "0", "--signing-key", "abc"], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /config error: signing_key \(flag --signing-key\)/);
  } finally {
    await dir.remove();
  }
});

Deno.test("a bad audit signing key or key file is a config error naming it, exit 2", async () => {
  const dir = await tempDir();
  try {
    const db = `${dir.path}/ledger.db`;
    const seed = await runIatp(["audit", "--port", "0", "--db", db, "--signing-key", "abc"], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(seed.code, 2, seed.stderr);
    assert.match(seed.stderr, /^iatp audit: config error: signing_key \(flag --signing-key\): /);
    assert.ok(!seed.stderr.includes("abc"), "the seed reached the terminal");
    const keyFile = `${dir.path}/ledger.key`;
    await Deno.writeTextFile(keyFile, "not a seed\n");
    const file = await runIatp(["audit", "--port", "0", "--db", db, "--key-file", keyFile], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(file.code, 2, file.stderr);
    assert.match(file.stderr, /^iatp audit: config error: key_file \(flag --key-file\): /);
    assert.match(file.stderr, /ledger\.key/);
  } finally {
    await dir.remove();
  }
});

Deno.test("a port already in use names the service, the setting and the port", async () => {
  const dir = await tempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String(taken.addr.port);
    const r = await runIatp(["relay", "--port", port], { env: { IATP_DATA_DIR: dir.path } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^iatp relay: config error: port \\(flag --port\\): .*127\\.0\\.0\\.1:${port} already in use`,
      ),
    );
  } finally {
    taken.close();
    await dir.remove();
  }
});

Deno.test("audit verify --vkey that does not parse is a usage error, not a tampered ledger", async () => {
  const dir = await tempDir();
  try {
    const r = await runIatp(["audit", "verify", "--db", `${dir.path}/none.db`, "--vkey", "nope"], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /config error: vkey \(flag --vkey\): expected a C2SP verifier key/);
    assert.doesNotMatch(r.stderr, /bad index/);
  } finally {
    await dir.remove();
  }
});

Deno.test("audit verify of a file that is not a database names db (exit 2); a database without the ledger's tables fails verification naming the table", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir.path}/junk.db`, "not a database at all, just some text\n");
    await Deno.writeFile(`${dir.path}/empty.db`, new Uint8Array());
    const env = { IATP_DATA_DIR: dir.path };
    const junk = await runIatp(["audit", "verify", "--db", `${dir.path}/junk.db`], { env });
    assert.equal(junk.code, 2, junk.stderr);
    assert.match(
      junk.stderr,
      /config error: db \(flag --db\): expected a ledger file written by iatp audit/,
    );
    const empty = await runIatp(["audit", "verify", "--db", `${dir.path}/empty.db`], { env });
    assert.equal(empty.code, 1, empty.stderr);
    assert.match(empty.stderr, /verify failed: first bad index 0: not a ledger: no table \w+/);
  } finally {
    await dir.remove();
  }
});

Deno.test("audit started on a file that is no ledger names db (exit 2) and leaves the file and its folder as they were", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir.path}/junk.db`, "not a database at all, just some text\n");
    const other = new DatabaseSync(`${dir.path}/other.db`);
    other.exec("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('a')");
    other.close();
    const entries = new DatabaseSync(`${dir.path}/entries.db`);
    entries.exec("CREATE TABLE entries (id INTEGER, what TEXT)");
    entries.close();
    const env = { IATP_DATA_DIR: dir.path };
    for (
      const [file, why] of [
        ["junk.db", /file is not a database/],
        ["other.db", /a database of another program \(tables users\)/],
        ["entries.db", /its entries table has no column idx, tx_id/],
      ] as const
    ) {
      const path = `${dir.path}/${file}`;
      const before = await Deno.readFile(path);
      const r = await runIatp(["audit", "--port", "0", "--db", path], { env });
      assert.equal(r.code, 2, `${file}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /config error: db \(flag --db\): expected a ledger file written by iatp audit/,
      );
      assert.match(r.stderr, why);
      assert.deepEqual(await Deno.readFile(path), before, `${file} was changed`);
    }
    const left = [];
    for await (const e of Deno.readDir(dir.path)) left.push(e.name);
    assert.deepEqual(left.sort(), ["entries.db", "junk.db", "other.db"]);
  } finally {
    await dir.remove();
  }
});

Deno.test("durations take 0 as documented, and the deprecated flags still work", async () => {
  const c =
    loaded(await relaySpec.parse(["--retention-age", "0"], { env: () => undefined })).config;
  assert.equal(c.retention_age, 0);
  const old = loaded(
    await policySpec.parse(["--relay", "http://r:8005"], { env: () => undefined }),
  );
  assert.equal(old.config.relay_url, "http://r:8005");
  assert.deepEqual(old.warnings, [
    "flag --relay is deprecated and will be removed; use --relay-url",
  ]);
});

Deno.test("a state file that cannot be opened is a config error naming it, exit 2", async () => {
  const dir = await tempDir();
  try {
    // A folder where the file should be: SQLite cannot open it, as on a read-only or full disk.
    const policy = await runIatp([
      "policy",
      "--port",
      "0",
      "--relay-url",
      "http://127.0.0.1:9",
      "--state-db",
      dir.path,
    ], { env: { IATP_DATA_DIR: dir.path } });
    assert.equal(policy.code, 2, policy.stderr);
    assert.match(policy.stderr, /^iatp policy: config error: state_db \(flag --state-db\): /);
    assert.ok(policy.stderr.includes(dir.path), policy.stderr);
    const key = `${dir.path}/agent.key`;
    await Deno.writeTextFile(key, "k".repeat(32));
    const blocker = `${dir.path}/not-a-folder`;
    await Deno.writeTextFile(blocker, "");
    const agent = await runIatp([
      "compose-agent",
      "--port",
      "0",
      "--agent-token",
      `file:${key}`,
      "--replay-db",
      `${blocker}/replay.sqlite`,
    ], { env: { IATP_DATA_DIR: dir.path } });
    assert.equal(agent.code, 2, agent.stderr);
    assert.match(
      agent.stderr,
      /^iatp compose-agent: config error: replay_db \(flag --replay-db\): .*not-a-folder/,
    );
  } finally {
    await dir.remove();
  }
});

Deno.test("auth_keys naming the issuer's private key file never prints the key", async () => {
  const dir = await tempDir();
  try {
    const keygen = await runIatp(["token", "keygen", "--out", `${dir.path}/issuer`], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(keygen.code, 0, keygen.stderr);
    const seed = (await Deno.readTextFile(`${dir.path}/issuer/issuer.key`)).trim();
    const keys = `file:${dir.path}/issuer/issuer.key`; // issuer.pub was meant
    for (
      const args of [["policy", "--port", "0", "--auth-keys", keys], [
        "token",
        "inspect",
        "x",
        "--keys",
        keys,
      ]]
    ) {
      const r = await runIatp(args, { env: { IATP_DATA_DIR: dir.path } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /auth_keys|--keys/);
      assert.match(r.stderr, /issuer\.pub/, "the message says which file was meant");
      assert.ok(
        !(r.stdout + r.stderr).includes(seed.slice(0, 12)),
        `the seed was printed: ${r.stderr}`,
      );
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("a config file or issuer key that never ends (/dev/zero) is refused naming it, exit 2", async () => {
  const dir = await tempDir();
  try {
    const env = { IATP_DATA_DIR: dir.path };
    const config = await runIatp(["policy", "--config", "/dev/zero"], { env });
    assert.equal(config.code, 2, config.stderr);
    assert.match(
      config.stderr,
      /config error: config \(\/dev\/zero\): .*larger than 1048576 bytes/,
    );
    const key = await runIatp([
      "token",
      "issue",
      "--key",
      "/dev/zero",
      "--sub",
      "a",
      "--scope",
      "*",
    ], {
      env,
    });
    assert.equal(key.code, 2, key.stderr);
    assert.match(key.stderr, /^iatp token: --key: \/dev\/zero is not an issuer key: larger than/);
  } finally {
    await dir.remove();
  }
});

Deno.test("up on a data folder it cannot write is a config error naming data_dir, exit 2", async () => {
  const dir = await tempDir();
  try {
    // A file where a folder of the data dir goes: nothing can be created under it, as read-only.
    const data = `${dir.path}/data`;
    await Deno.mkdir(data);
    await Deno.writeTextFile(`${data}/credentials`, "");
    const r = await runIatp(["up", "--data-dir", data, "--base-port", "0"], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^iatp up: config error: data_dir \(flag --data-dir\): .*credentials/);
  } finally {
    await dir.remove();
  }
});

Deno.test({
  name: "up on a data folder another user owns is a config error naming data_dir, exit 2",
  // As root in a user namespace of its own, where the folder's owner is not mapped: the chmod
  // of its credentials folder is refused (EPERM), as it is for a user on another user's folder.
  ignore: Deno.uid() !== 0,
  async fn() {
    const dir = await tempDir();
    try {
      const data = `${dir.path}/data`;
      await Deno.mkdir(`${data}/credentials`, { recursive: true });
      await Deno.chmod(data, 0o777);
      for (const p of [data, `${data}/credentials`]) await Deno.chown(p, 12345, 12345);
      const out = await new Deno.Command("unshare", {
        args: ["--user", "--map-root-user", LAUNCHER, "up", "--data-dir", data, "--base-port", "0"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 2, stderr);
      assert.match(
        stderr,
        /^iatp up: config error: data_dir \(flag --data-dir\): .*credentials: operation not permitted \(another user owns it\)$/m,
      );
    } finally {
      await dir.remove();
    }
  },
});

Deno.test("an agent home that cannot be made is a config error naming agent.base_folder, exit 2", async () => {
  const dir = await tempDir();
  try {
    const blocker = `${dir.path}/not-a-folder`;
    await Deno.writeTextFile(blocker, "");
    const flagged = await runIatp([
      "action",
      "--agent-id",
      "a1",
      "--relay-url",
      "http://127.0.0.1:9",
      "--health-port",
      "0",
      "--agent-base-folder",
      `${blocker}/home`,
    ], { env: { IATP_DATA_DIR: dir.path } });
    assert.equal(flagged.code, 2, flagged.stderr);
    assert.match(
      flagged.stderr,
      /^iatp action: config error: agent\.base_folder \(flag --agent-base-folder\): .*not-a-folder/,
    );
    // The default home, under a data folder where a file is in the way.
    await Deno.writeTextFile(`${dir.path}/sensor`, "");
    const byDefault = await runIatp([
      "sensor",
      "--agent-id",
      "s1",
      "--relay-url",
      "http://127.0.0.1:9",
      "--health-port",
      "0",
    ], { env: { IATP_DATA_DIR: dir.path } });
    assert.equal(byDefault.code, 2, byDefault.stderr);
    assert.match(
      byDefault.stderr,
      /^iatp sensor: config error: agent\.base_folder \(built-in default\)/,
    );
  } finally {
    await dir.remove();
  }
});

Deno.test("a ledger signed by another key is a config error naming the key setting, exit 2", async () => {
  const dir = await tempDir();
  try {
    // A ledger copied without its key file: the start names key_file and leaves no new key.
    const db = `${dir.path}/copied.db`;
    const made = await Ledger.open({ store: new LedgerStore(db), key: await generateKeyPair() });
    await made.append({ tx_id: "tx-1", event: "e", actor: "a", payload: {} });
    await made.close();
    const env = { IATP_DATA_DIR: dir.path };
    const bare = await runIatp(["audit", "--port", "0", "--db", db], { env });
    assert.equal(bare.code, 2, bare.stderr);
    assert.match(
      bare.stderr,
      /^iatp audit: config error: key_file \(built-in default\): expected the key the ledger is signed with \(iatp-audit\/.*\): its key file, which was not beside it, found .*copied\.db\.key: no such file/,
    );
    await assert.rejects(() => Deno.lstat(`${db}.key`), Deno.errors.NotFound);
    // Another key in the file named, or given as signing_key: each named with its source.
    const other = await generateKeyPair();
    const keyFile = `${dir.path}/other.key`;
    await Deno.writeTextFile(keyFile, `${other.seedBase64}\n`);
    const file = await runIatp(["audit", "--port", "0", "--db", db, "--key-file", keyFile], {
      env,
    });
    assert.equal(file.code, 2, file.stderr);
    assert.match(
      file.stderr,
      /config error: key_file \(flag --key-file\): .*other\.key: another key/,
    );
    const seed = await runIatp(["audit", "--port", "0", "--db", db], {
      env: { ...env, IATP_AUDIT_SIGNING_KEY: other.seedBase64 },
    });
    assert.equal(seed.code, 2, seed.stderr);
    assert.match(
      seed.stderr,
      /config error: signing_key \(env IATP_AUDIT_SIGNING_KEY\): .*another key/,
    );
    assert.ok(!seed.stderr.includes(other.seedBase64), "the seed reached the terminal");
  } finally {
    await dir.remove();
  }
});

Deno.test("a second relay or sidecar with worker isolates cannot share the port of a running one", async () => {
  const dir = await tempDir();
  const env = { IATP_DATA_DIR: dir.path };
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String(probe.addr.port);
  probe.close();
  // SO_REUSEPORT lets every listener that sets it share a port: without the first isolate's
  // claim, a second service started there served half of the connections.
  const first = await startIatpService(["relay", "--port", port, "--workers", "2"], { env });
  try {
    for (const command of ["relay", "sidecar"]) {
      const r = await runIatp([command, "--port", port, "--workers", "2"], {
        env,
        timeoutMs: 20_000,
      });
      assert.equal(r.code, 2, `${command}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(
          `^iatp ${command}: config error: port \\(flag --port\\): .*:${port} already in use`,
        ),
      );
    }
    const health = await fetch(`${first.url}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    await first.stop();
    await dir.remove();
  }
});
