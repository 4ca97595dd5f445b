/**
 * `iatp config show|check` through the real launcher, with files outside the checkout, and the
 * naming scheme's promise that no env var configures two commands.
 */
import assert from "node:assert/strict";
import { COMMANDS } from "../../cmd/mod.ts";
import { envGranted, PERMISSIONS } from "../../cmd/permissions.ts";
import {
  delay,
  LAUNCHER,
  ROOT,
  runIatp,
  spawnChild,
  startIatpService,
  tempDir,
} from "../helpers.ts";

/**
 * `main.ts ...args` run by Deno itself (one process, which a kill stops whatever it waits on),
 * killed after 30 s: its exit code (137 when killed) and stderr.
 */
async function runMain(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stderr: string }> {
  const child = spawnChild(Deno.execPath(), ["run", "-A", "--quiet", `${ROOT}main.ts`, ...args], {
    env,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([child.process.status, new Promise((r) => timer = setTimeout(r, 30_000))]);
  clearTimeout(timer);
  const status = await child.stop("SIGKILL", 1_000);
  return { code: status.code, stderr: child.stderr() };
}

/** A named pipe (FIFO) at `path`. */
async function mkfifo(path: string): Promise<string> {
  const out = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.ok(out.success, "mkfifo failed");
  return path;
}

Deno.test("config show: each value with its source; a secret only as set, never its size", async () => {
  const dir = await tempDir();
  try {
    const secret = "a-secret-token-123";
    const file = `${dir.path}/relay.yaml`;
    await Deno.writeTextFile(
      file,
      `port: 9100\nretention_age: 1h\ntokens:\n  "${secret}": ["publish:*"]\n`,
    );
    const r = await runIatp(["config", "show", "relay", "--config", file, "--log-level", "debug"], {
      env: { IATP_DATA_DIR: dir.path, IATP_RELAY_MAX_TOPICS: "50" },
    });
    assert.equal(r.code, 0, r.stderr);
    const row = (key: string) => r.stdout.split("\n").find((l) => l.startsWith(`${key} `))?.trim();
    assert.match(row("port")!, new RegExp(`^port +9100 +# ${file}:1$`));
    assert.match(row("retention_age")!, new RegExp(`1h +# ${file}:2$`));
    assert.match(row("max_topics")!, /50 +# env IATP_RELAY_MAX_TOPICS$/);
    assert.match(row("log_level")!, /"debug" +# flag --log-level$/);
    assert.match(row("heartbeat")!, /15s +# built-in default$/);
    assert.match(row("tokens")!, /\(secret, set\) +# .*relay\.yaml:4$/);
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), "a secret was printed");
    assert.doesNotMatch(r.stdout, /chars\)/, "a secret's size was printed");
  } finally {
    await dir.remove();
  }
});

Deno.test("config show: a password in a URL setting is shown as (secret), not its size", async () => {
  const dir = await tempDir();
  try {
    const env = { IATP_DATA_DIR: dir.path };
    const audit = await runIatp(["config", "show", "audit"], {
      env: { ...env, IATP_AUDIT_DB: "postgres://app:p%40s3cret@db/iatp?password=s3cret2" },
    });
    assert.equal(audit.code, 0, audit.stderr);
    assert.match(
      audit.stdout,
      /^db +"postgres:\/\/app:\(secret\)@db\/iatp\?password=\(secret\)" +# env/m,
    );
    const sidecar = await runIatp(["config", "show", "sidecar"], {
      env: { ...env, IATP_SIDECAR_RECORDER_URL: "redis://:12/s3cret@cache:6379" },
    });
    assert.equal(sidecar.code, 0, sidecar.stderr);
    assert.match(sidecar.stdout, /^recorder_url +"redis:\/\/:\(secret\)@cache:6379"/m);
    // A NATS URL's lone user info is a token.
    const relay = await runIatp(["config", "show", "relay"], {
      env: { ...env, IATP_RELAY_STORE: "nats://s3cret-token@h1:4222,h2:4222" },
    });
    assert.equal(relay.code, 0, relay.stderr);
    assert.match(relay.stdout, /^store +"nats:\/\/\(secret\)@h1:4222,h2:4222"/m);
    for (const r of [audit, sidecar, relay]) {
      assert.ok(!/s3cret/.test(r.stdout + r.stderr), "a password was printed");
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("config show: a file:PATH secret is shown as read from that file, never a size", async () => {
  const dir = await tempDir();
  try {
    const secret = "override-token-0123456789abcdef";
    const file = `${dir.path}/override.token`;
    await Deno.writeTextFile(file, `${secret}\n`, { mode: 0o600 });
    const r = await runIatp(["config", "show", "sidecar", "--override-token", `file:${file}`], {
      env: { IATP_DATA_DIR: dir.path, IATP_SIDECAR_RELAY_TOKEN: "relay-token-0123456789" },
    });
    assert.equal(r.code, 0, r.stderr);
    const row = (key: string) => r.stdout.split("\n").find((l) => l.startsWith(`${key} `))?.trim();
    const cells = (key: string) => row(key)?.split(/ {2,}/);
    assert.deepEqual(cells("override_token"), [
      "override_token",
      `(secret, in file:${file})`,
      "# flag --override-token",
    ]);
    assert.deepEqual(cells("relay_token"), [
      "relay_token",
      "(secret, set)",
      "# env IATP_SIDECAR_RELAY_TOKEN",
    ]);
    assert.doesNotMatch(r.stdout, /chars\)/, "a secret's size (or its reference's) was printed");
    assert.ok(!(r.stdout + r.stderr).includes(secret), "a file's content is never shown");
    assert.ok(!(r.stdout + r.stderr).includes("relay-token-0123456789"), "a secret was printed");
  } finally {
    await dir.remove();
  }
});

Deno.test("config check: exit 0 for a file that loads, 2 naming the key and line otherwise", async () => {
  const dir = await tempDir();
  try {
    const good = `${dir.path}/good.yaml`;
    const bad = `${dir.path}/bad.yaml`;
    await Deno.writeTextFile(good, "port: 9100\n");
    await Deno.writeTextFile(bad, "host: 0.0.0.0\nport: 70000\n");
    const env = { IATP_DATA_DIR: dir.path };
    const ok = await runIatp(["config", "check", "relay", good], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /good\.yaml is a valid relay configuration/);
    const no = await runIatp(["config", "check", "relay", bad], { env });
    assert.equal(no.code, 2, no.stderr);
    assert.match(
      no.stderr,
      /config error: port \(.*bad\.yaml:2\): expected an integer from 0 to 65535/,
    );
    const unknown = await runIatp(["config", "check", "nope", good], { env });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /"nope" has no configuration/);
  } finally {
    await dir.remove();
  }
});

Deno.test("config check: a relative security.sandbox.allowed_paths entry exits 2 naming it", async () => {
  const dir = await tempDir();
  try {
    const file = `${dir.path}/sensor.yaml`;
    const env = { IATP_DATA_DIR: dir.path };
    await Deno.writeTextFile(
      file,
      "agent:\n  id: s1\nsecurity:\n  sandbox:\n    allowed_paths: [/proc, shared/data]\n",
    );
    const no = await runIatp(["config", "check", "sensor", file], { env });
    assert.equal(no.code, 2, no.stderr);
    assert.match(
      no.stderr,
      /config error: security\.sandbox\.allowed_paths \(.*sensor\.yaml:5\): expected a list of absolute paths/,
    );
    await Deno.writeTextFile(
      file,
      "agent:\n  id: s1\nrelay:\n  url: http://127.0.0.1:9\nsecurity:\n  sandbox:\n    allowed_paths: [/proc, /srv/shared]\n",
    );
    const ok = await runIatp(["config", "check", "sensor", file], { env });
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await dir.remove();
  }
});

Deno.test("config check: a file that is not UTF-8 exits 2 naming config and the line", async () => {
  const dir = await tempDir();
  try {
    const env = { IATP_DATA_DIR: dir.path };
    const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
    const cases: Array<[string, Uint8Array, number]> = [
      // A Latin-1 letter in a value would be read as U+FFFD; in a comment it would pass unseen.
      ["value", latin1('port: 9100\nstore: "sqlite:/srv/d\xe4ta/relay.db"\n'), 2],
      ["comment", latin1("port: 9100\n# caf\xe9\nmax_topics: 10\n"), 2],
      ["utf16", new Uint8Array([0xff, 0xfe, 0x70, 0x00, 0x3a, 0x00, 0x0a, 0x00]), 1],
    ];
    for (const [name, bytes, line] of cases) {
      const file = `${dir.path}/${name} ü.yaml`;
      await Deno.writeFile(file, bytes);
      const r = await runIatp(["config", "check", "relay", file], { env });
      assert.equal(r.code, 2, `${name}: ${r.stdout}${r.stderr}`);
      assert.ok(
        r.stderr.includes(
          `config error: config (${file}:${line}): expected UTF-8 text, found a byte sequence ` +
            "that is not UTF-8",
        ),
        `${name}: ${r.stderr}`,
      );
    }
    // UTF-8 with a byte order mark and non-ASCII letters loads.
    const good = `${dir.path}/bom ü.yaml`;
    await Deno.writeTextFile(good, '\ufeffport: 9100\nstore: "sqlite:/srv/däta/relay.db"\n');
    const ok = await runIatp(["config", "check", "relay", good], { env });
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await dir.remove();
  }
});

Deno.test("config check reads file:PATH settings as the start does: the same error, never the content", async () => {
  const dir = await tempDir("iatp check 'refs' ");
  try {
    const env = { IATP_DATA_DIR: dir.path };
    const secret = "check-secret-0123456789abcdef";
    await Deno.writeTextFile(`${dir.path}/agent.key`, `${secret}\n`, { mode: 0o600 });
    await Deno.mkdir(`${dir.path}/a folder`);
    const cases: Array<[string, string, RegExp]> = [
      [
        "relay",
        `port: 0\nauth_keys:\n  - file:${dir.path}/none.pub\n`,
        /config error: auth_keys \(.*relay-0\.yaml:3\): expected a readable file at .*none\.pub, found no such file/,
      ],
      [
        "compose-agent",
        `port: 0\nagent_token: file:${dir.path}/none.key\n`,
        /config error: agent_token \(.*compose-agent-1\.yaml:2\): expected a readable file at .*none\.key, found no such file/,
      ],
      [
        "relay",
        `port: 0\nauth_revoked: [file:${dir.path}/none.ids]\n`,
        /config error: auth_revoked \(.*relay-2\.yaml:2\): expected a readable file at .*none\.ids, found no such file/,
      ],
      [
        "sidecar",
        `port: 0\nrecorder_url: redis://127.0.0.1:9\nrecorder_password: file:${dir.path}/none.pw\n`,
        /config error: recorder_password \(.*sidecar-3\.yaml:3\): expected a readable file at .*none\.pw/,
      ],
      [
        "compose-agent",
        `port: 0\nagent_token: file:${dir.path}/agent.key\nrelay_token: file:${dir.path}/a folder\n`,
        /config error: relay_token \(.*compose-agent-4\.yaml:3\): expected a readable file at .*a folder, found /,
      ],
    ];
    for (const [i, [command, yaml, want]] of cases.entries()) {
      const file = `${dir.path}/${command}-${i}.yaml`;
      await Deno.writeTextFile(file, yaml);
      const check = await runIatp(["config", "check", command, file], { env });
      assert.equal(check.code, 2, check.stderr + check.stdout);
      assert.match(check.stderr, want);
      assert.ok(!(check.stdout + check.stderr).includes(secret), "a file's content is never shown");
      // The start refuses the same config with the same error.
      const start = await runIatp([command, "--config", file], { env });
      assert.equal(start.code, 2, start.stderr);
      assert.equal(
        check.stderr.replace(/^iatp config: /, ""),
        start.stderr.replace(new RegExp(`^iatp ${command}: `), ""),
      );
    }
    // A file the start does not read with this config (no Redis URL for its password) is not
    // read by the check either: both go on.
    const unread = `${dir.path}/unread.yaml`;
    await Deno.writeTextFile(unread, `port: 0\nrecorder_password: file:${dir.path}/none.pw\n`);
    const passes = await runIatp(["config", "check", "sidecar", unread], { env });
    assert.equal(passes.code, 0, passes.stderr);
    // Every file readable: the check passes, and shows no content.
    const good = `${dir.path}/good.yaml`;
    await Deno.writeTextFile(good, `port: 0\nagent_token: file:${dir.path}/agent.key\n`);
    const ok = await runIatp(["config", "check", "compose-agent", good], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(!(ok.stdout + ok.stderr).includes(secret));
  } finally {
    await dir.remove();
  }
});

Deno.test("a settings file that is a pipe with no writer: config check and the start exit 2 once IATP_FILE_READ_TIMEOUT passes; one over 1 MiB at once", async () => {
  const dir = await tempDir();
  try {
    const env = { IATP_DATA_DIR: dir.path, IATP_FILE_READ_TIMEOUT: "300ms" };
    const pipe = await mkfifo(`${dir.path}/no-writer`);
    const noData = "no data arrived within 300ms \\(a pipe with no writer\\?\\); " +
      "IATP_FILE_READ_TIMEOUT sets the wait";
    const big = `${dir.path}/big.creds`;
    await Deno.writeTextFile(big, "x".repeat(1024 * 1024 + 1));
    const refs = `${dir.path}/refs.yaml`;
    await Deno.writeTextFile(refs, `port: 0\nauth_keys: [file:${pipe}]\n`);
    const cases: Array<[string[], RegExp]> = [
      [
        ["config", "check", "relay", pipe],
        new RegExp(
          `^iatp config: config error: config \\(${pipe}\\): expected a readable YAML file, found ${noData}`,
        ),
      ],
      [
        ["relay", "--config", pipe],
        new RegExp(
          `^iatp relay: config error: config \\(${pipe}\\): expected a readable YAML file, found ${noData}`,
        ),
      ],
      [
        ["config", "check", "relay", refs],
        new RegExp(
          `config error: auth_keys \\(${refs}:2\\): expected a readable file at ${pipe}, found ${noData}`,
        ),
      ],
      [
        ["relay", "--port", "0", "--auth-keys", `file:${pipe}`],
        new RegExp(
          `config error: auth_keys \\(flag --auth-keys\\): expected a readable file at ${pipe}, found ${noData}`,
        ),
      ],
      [
        ["config", "show", "sidecar", "--manifest", pipe],
        new RegExp(
          `config error: manifest \\(${pipe}\\): expected a readable YAML manifest, found ${noData}`,
        ),
      ],
      [
        ["relay", "--port", "0", "--tls-cert-file", pipe, "--tls-key-file", pipe],
        new RegExp(`^iatp relay: tls_cert_file: cannot read ${pipe}: ${noData}`, "m"),
      ],
      [
        ["relay", "--port", "0", "--store", "nats://127.0.0.1:1", "--nats-tls-ca", pipe],
        new RegExp(
          `config error: nats\\.tls_ca \\(${pipe}\\): expected a readable file, found ${noData}`,
        ),
      ],
      [
        ["relay", "--port", "0", "--store", "nats://127.0.0.1:1", "--nats-creds", big],
        new RegExp(
          `config error: nats\\.creds \\(${big}\\): expected a readable file, found larger than 1048576 bytes`,
        ),
      ],
      [
        ["audit", "--port", "0", "--key-file", pipe],
        new RegExp(
          `config error: key_file \\(flag --key-file\\): .*cannot read key file ${pipe}: ${noData}`,
        ),
      ],
    ];
    for (const [args, want] of cases) {
      const r = await runMain(args, env);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, want);
    }
    // A wait that is not a duration is named, before any file is read.
    const bad = await runMain(["config", "check", "relay", pipe], {
      ...env,
      IATP_FILE_READ_TIMEOUT: "soon",
    });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(
      bad.stderr,
      /file_read_timeout \(env IATP_FILE_READ_TIMEOUT\): expected a duration/,
    );
  } finally {
    await dir.remove();
  }
});

Deno.test("a settings file that is a pipe is read once it is written: slowly within the wait, or by process substitution through the launcher", async () => {
  const dir = await tempDir();
  try {
    const env = { IATP_DATA_DIR: dir.path };
    const pipe = await mkfifo(`${dir.path}/slow`);
    // The writer opens the pipe once the command reads it, and writes in parts.
    const writer = (async () => {
      using w = await Deno.open(pipe, { write: true });
      for (const part of ["port: ", "91", "24\n"]) {
        await w.write(new TextEncoder().encode(part));
        await delay(200);
      }
    })();
    const slow = await runIatp(["config", "show", "relay", "--config", pipe], {
      env,
      timeoutMs: 30_000,
    });
    // A command that never opened the pipe leaves the writer waiting: release it.
    const released = delay(100).then(() => Deno.open(pipe, { read: true, write: true }));
    await Promise.race([writer, released]);
    (await released).close();
    await writer.catch(() => {});
    assert.equal(slow.code, 0, slow.stderr);
    assert.match(slow.stdout, new RegExp(`\\nport +9124 +# ${pipe}:1\\n`));

    // The launcher learns the paths a command names without reading the pipe (its data can be
    // read once): the command reads all of it, and a file:PATH that is a pipe too.
    const substituted = await new Deno.Command("bash", {
      args: [
        "-c",
        `"$0" config show relay --config <(printf 'port: 9125\\n') && ` +
        `"$0" config check policy <(printf 'relay_token: file:%s\\nrelay_url: http://127.0.0.1:1\\n' <(printf token))`,
        LAUNCHER,
      ],
      env,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const out = new TextDecoder().decode(substituted.stdout);
    const err = new TextDecoder().decode(substituted.stderr);
    assert.equal(substituted.code, 0, err);
    assert.match(out, /\nport +9125 +# \/dev\/fd\/\d+:1\n/);
    assert.match(out, /is a valid policy configuration/);
  } finally {
    await dir.remove();
  }
});

Deno.test("config show reads the files the command's line names (a sidecar manifest)", async () => {
  const dir = await tempDir();
  try {
    const manifest = `${dir.path}/manifest.yaml`;
    await Deno.writeTextFile(manifest, "agent_id: from-manifest\n");
    const r = await runIatp(["config", "show", "sidecar", "--manifest", manifest], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(r.code, 0, r.stderr);
    const row = r.stdout.split("\n").find((l) => l.startsWith("agent_id "));
    assert.match(row ?? "", new RegExp(`"from-manifest" +# ${manifest}$`));
  } finally {
    await dir.remove();
  }
});

Deno.test("no env var is read by two commands", async () => {
  const readers = new Map<string, string[]>();
  for (const entry of COMMANDS) {
    const declared = (await entry.load()).spec;
    for (const name of declared?.envNames() ?? []) {
      readers.set(name, [...readers.get(name) ?? [], entry.name]);
    }
  }
  const shared = [...readers].filter(([, by]) => by.length > 1).map(([n, by]) => `${n}: ${by}`);
  assert.deepEqual(shared, []);
  assert.ok(readers.size > 300, `only ${readers.size} env vars`);
});

Deno.test("iatp config may read every env var any command reads", async () => {
  const flags = PERMISSIONS.get("config") ?? [];
  const missing: string[] = [];
  for (const entry of COMMANDS) {
    for (const name of (await entry.load()).spec?.envNames() ?? []) {
      if (!envGranted(flags, name)) missing.push(`${entry.name}: ${name}`);
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("a credential file of two lines stops the start naming the setting and the file, never its text; a trailing CRLF is trimmed", async () => {
  const tmp = await tempDir();
  try {
    const twoLines = `${tmp.path}/relay token.txt`;
    await Deno.writeTextFile(twoLines, "SECRETONE\r\nSECRETTWO\n");
    const crlf = `${tmp.path}/crlf.token`;
    await Deno.writeTextFile(crlf, "SECRETONE-0123456789\r\n");
    const keys = `${tmp.path}/issuer.pub`;
    const pub = `iatp-ed25519:${"A".repeat(43)}`;
    await Deno.writeTextFile(keys, `${pub}\r\n# rotated in\n${pub}\r\n`);
    const env = { IATP_DATA_DIR: tmp.path };
    const start = await runIatp(
      [
        "dashboard",
        "--port",
        "0",
        "--relay-url",
        "http://127.0.0.1:9",
        "--relay-token",
        `file:${twoLines}`,
      ],
      { env },
    );
    assert.equal(start.code, 2, start.stderr);
    assert.match(
      start.stderr,
      /relay_token \(flag --relay-token\): expected one line in the file at .*relay token\.txt, found a line break/,
    );
    const check = await runIatp(["config", "check", "sidecar", "/dev/null"], {
      env: { ...env, IATP_SIDECAR_AUDIT_TOKEN: `file:${twoLines}`, IATP_ALLOW_READ: twoLines },
    });
    assert.equal(check.code, 2, check.stderr);
    assert.match(check.stderr, /audit_token \(env IATP_SIDECAR_AUDIT_TOKEN\): expected one line/);
    for (const r of [start, check]) assert.doesNotMatch(r.stdout + r.stderr, /SECRET/);
    const fine = await runIatp(["config", "check", "dashboard", "/dev/null"], {
      env: {
        ...env,
        IATP_DASHBOARD_RELAY_TOKEN: `file:${crlf}`,
        IATP_DASHBOARD_AUTH_KEYS: `file:${keys}`,
        IATP_ALLOW_READ: `${crlf},${keys}`,
      },
    });
    assert.equal(fine.code, 0, fine.stderr);
  } finally {
    await tmp.remove();
  }
});

Deno.test("LOG_STREAM or LOG_TOKENS in the environment does not make the YAML parser print a config file's credentials", async () => {
  const tmp = await tempDir();
  try {
    const file = `${tmp.path}/relay.yaml`;
    await Deno.writeTextFile(file, 'tokens:\n  SECRETRELAYTOKEN1: ["publish:sensor.*"]\n');
    const env = { IATP_DATA_DIR: tmp.path, LOG_STREAM: "stdout", LOG_TOKENS: "1" };
    const check = await runIatp(["config", "check", "relay", file], { env });
    assert.equal(check.code, 0, check.stderr);
    const show = await runIatp(["config", "show", "relay", "--config", file], { env });
    assert.equal(show.code, 0, show.stderr);
    const relay = await startIatpService(["relay", "--port", "0", "--config", file], { env });
    const status = await relay.stop("SIGTERM");
    assert.equal(status.code, 0, relay.stderr());
    for (const out of [check, show, { stdout: relay.stdout(), stderr: relay.stderr() }]) {
      assert.doesNotMatch(out.stdout + out.stderr, /SECRETRELAYTOKEN1/);
    }
  } finally {
    await tmp.remove();
  }
});

Deno.test("an IATP_DATA_DIR or --db holding a control character or a name past 255 bytes exits 2 naming it, and makes nothing", async () => {
  const tmp = await tempDir();
  try {
    const cwd = tmp.path;
    for (const dir of [`${tmp.path}/da\tta`, `${tmp.path}/${"d".repeat(256)}`]) {
      const r = await runIatp(["audit", "--port", "0"], { cwd, env: { IATP_DATA_DIR: dir } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /data_dir \(env IATP_DATA_DIR\): expected a path without NUL or other control characters/,
      );
    }
    const db = await runIatp(["audit", "--port", "0", "--db", `${tmp.path}/a\nudit.db`], {
      cwd,
      env: { IATP_DATA_DIR: tmp.path },
    });
    assert.equal(db.code, 2, db.stderr);
    assert.match(
      db.stderr,
      /db \(flag --db\): .*found a path holding the control character \\u000a$/m,
    );
    assert.deepEqual([...Deno.readDirSync(tmp.path)].map((e) => e.name), []);
  } finally {
    await tmp.remove();
  }
});

Deno.test("a path starting with ~ (nothing expands it) exits 2 naming the setting, and no folder named ~ is made", async () => {
  const tmp = await tempDir();
  try {
    const cwd = tmp.path;
    const data = { IATP_DATA_DIR: `${tmp.path}/data` };
    const dataDir = await runIatp(["config", "show", "relay"], {
      cwd,
      env: { IATP_DATA_DIR: "~/iatp" },
    });
    assert.equal(dataDir.code, 2, dataDir.stderr);
    assert.match(
      dataDir.stderr,
      /data_dir \(env IATP_DATA_DIR\): expected a path \(a leading ~ is not expanded: write the home folder out\), found string "~\/iatp"/,
    );
    const disk = await runIatp(["config", "show", "status", "--disk-path", "~/x"], {
      cwd,
      env: data,
    });
    assert.equal(disk.code, 2, disk.stderr);
    assert.match(disk.stderr, /disk_path \(flag --disk-path\): expected a path \(a leading ~/);
    const db = await runIatp(["audit", "--port", "0", "--db", "~/ledger/audit.db"], {
      cwd,
      env: data,
    });
    assert.equal(db.code, 2, db.stderr);
    assert.match(db.stderr, /db \(flag --db\): .*a leading ~ is not expanded/);
    const made = [...Deno.readDirSync(cwd)].map((e) => e.name);
    assert.ok(!made.includes("~"), made.join(","));
  } finally {
    await tmp.remove();
  }
});

Deno.test("a NATS URL whose password holds an unencoded / is a URL mistake naming the fix", async () => {
  // Base64 passwords hold `/`: the item is not nats://host[:port], whatever the server does.
  const r = await runIatp(["relay", "--port", "0", "--store", "nats://app:Ab/s3cret@127.0.0.1:1"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /store \(flag --store\): expected a nats:\/\/ URL list, /);
  assert.match(r.stderr, /percent-encode/);
  assert.doesNotMatch(r.stderr, /s3cret|reachable/);
});
