/** `iatp token` through the real launcher: keygen, issue, inspect, and usage errors exit 2. */
import assert from "node:assert/strict";
import { generateIssuer, issueCredential } from "../../core/auth/mod.ts";
import { ROOT, runIatp, tempDir } from "../helpers.ts";

const modeOf = (path: string) => Deno.statSync(path).mode! & 0o777;

Deno.test("token keygen writes a 0600 key in a 0700 folder and refuses to overwrite", async () => {
  const tmp = await tempDir();
  // Outside the data dir: the launcher grants exactly the folder --out names.
  const env = { IATP_DATA_DIR: `${tmp.path}/data` };
  try {
    const dir = `${tmp.path}/keys`;
    const r = await runIatp(["token", "keygen", "--out", dir], { env });
    assert.equal(r.code, 0, r.stderr);
    const pub = Deno.readTextFileSync(`${dir}/issuer.pub`).trim();
    assert.match(pub, /^iatp-ed25519:[A-Za-z0-9_-]{43}$/);
    assert.ok(r.stdout.includes(pub), "keygen prints the public key for auth_keys");
    const seed = Deno.readTextFileSync(`${dir}/issuer.key`).trim();
    assert.ok(!r.stdout.includes(seed), "the private seed is never printed");
    assert.equal(modeOf(`${dir}/issuer.key`), 0o600);
    assert.equal(modeOf(dir), 0o700);

    const again = await runIatp(["token", "keygen", "--out", dir], { env });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /--out: .* already holds an issuer key/);
    assert.equal(Deno.readTextFileSync(`${dir}/issuer.key`).trim(), seed, "key untouched");
  } finally {
    await tmp.remove();
  }
});

Deno.test("token issue prints only the credential; inspect shows claims and verifies", async () => {
  const tmp = await tempDir();
  const env = { IATP_DATA_DIR: tmp.path };
  const dir = `${tmp.path}/keys`;
  try {
    assert.equal((await runIatp(["token", "keygen", "--out", dir], { env })).code, 0);
    const issued = await runIatp([
      "token",
      "issue",
      "--key",
      `${dir}/issuer.key`,
      "--sub",
      "policy",
      "--scope",
      "subscribe:access.intent",
      "--scope",
      "audit:append",
      "--ttl",
      "2h",
    ], { env });
    assert.equal(issued.code, 0, issued.stderr);
    const lines = issued.stdout.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 1, "stdout holds the credential and nothing else");
    assert.match(lines[0], /^iatp1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
    Deno.writeTextFileSync(`${tmp.path}/policy.token`, lines[0]);

    const ok = await runIatp([
      "token",
      "inspect",
      `file:${tmp.path}/policy.token`,
      "--keys",
      `file:${dir}/issuer.pub`,
    ], { env });
    assert.equal(ok.code, 0, ok.stderr);
    const shown = JSON.parse(ok.stdout);
    assert.equal(shown.claims.sub, "policy");
    assert.deepEqual(shown.claims.scopes, ["subscribe:access.intent", "audit:append"]);
    assert.equal(shown.claims.exp - shown.claims.iat, 7200);
    assert.equal(shown.verified, true);
    assert.ok(!ok.stdout.includes(lines[0]), "inspect never echoes the credential");

    const plain = await runIatp(["token", "inspect", lines[0]], { env });
    assert.equal(plain.code, 0);
    assert.equal(JSON.parse(plain.stdout).verified, undefined, "no keys: claims only");

    assert.equal((await runIatp(["token", "keygen", "--out", `${dir}2`], { env })).code, 0);
    const other = Deno.readTextFileSync(`${dir}2/issuer.pub`).trim();
    const bad = await runIatp(["token", "inspect", lines[0], "--keys", other], { env });
    assert.equal(bad.code, 1);
    assert.equal(JSON.parse(bad.stdout).verified, false);
    assert.equal(JSON.parse(bad.stdout).reason, "unknown_key");
  } finally {
    await tmp.remove();
  }
});

Deno.test("token usage errors exit 2 naming the flag", async () => {
  const tmp = await tempDir();
  const env = { IATP_DATA_DIR: tmp.path };
  const key = `${tmp.path}/k/issuer.key`;
  try {
    assert.equal((await runIatp(["token", "keygen", "--out", `${tmp.path}/k`], { env })).code, 0);
    const cases: Array<[string[], RegExp]> = [
      [["token"], /missing verb/],
      [["token", "mint"], /unknown verb "mint"/],
      [["token", "keygen"], /--out is required/],
      [["token", "issue", "--sub", "a", "--scope", "*"], /--key is required/],
      [["token", "issue", "--key", key, "--scope", "*"], /--sub is required/],
      [["token", "issue", "--key", key, "--sub", "a"], /--scope is required/],
      [["token", "issue", "--key", key, "--sub", "a b", "--scope", "*"], /--sub: expected/],
      [
        ["token", "issue", "--key", key, "--sub", "token:1a2b3c4d", "--scope", "*"],
        /--sub: a name starting with token: names a static token's principal/,
      ],
      [["token", "issue", "--key", key, "--sub", "a", "--scope", "admin:*"], /--scope: "admin:\*"/],
      [["token", "issue", "--key", key, "--sub", "a", "--scope", "*", "--ttl", "5y"], /--ttl/],
      [["token", "issue", "--key", `${tmp.path}/none`, "--sub", "a", "--scope", "*"], /--key: no/],
      [["token", "issue", "--key", key, "--bogus"], /Unknown option '--bogus'/],
      [["token", "inspect"], /missing TOKEN/],
      [["token", "inspect", "not-a-credential"], /TOKEN: not an iatp1 credential/],
      [
        ["token", "inspect", "my keys/me.token"],
        /TOKEN: not an iatp1 credential \(a file name\? give it as file:PATH\)/,
      ],
      [["token", "inspect", `file:${tmp.path}/none`], /TOKEN: expected a readable file/],
      [["token", "inspect", "iatp1.e30.x", "--keys", "iatp-ed25519:short"], /--keys: expected/],
      // A folder where the key file goes, a file where the key folder goes.
      [["token", "issue", "--key", `${tmp.path}/k`, "--sub", "a", "--scope", "*"], /--key: cannot/],
      [["token", "keygen", "--out", key], /--out: expected a folder, found a file at /],
    ];
    for (const [args, want] of cases) {
      const r = await runIatp(args, { env });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, want, args.join(" "));
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  } finally {
    await tmp.remove();
  }
});

Deno.test("a --ttl past 100 years exits 2; inspect of a credential expiring past any date says so", async () => {
  const tmp = await tempDir();
  const env = { IATP_DATA_DIR: tmp.path };
  try {
    assert.equal((await runIatp(["token", "keygen", "--out", `${tmp.path}/k`], { env })).code, 0);
    const key = `${tmp.path}/k/issuer.key`;
    const issue = (ttl: string) =>
      runIatp(["token", "issue", "--key", key, "--sub", "a", "--scope", "*", "--ttl", ttl], {
        env,
      });
    const long = await issue("99999999999h");
    assert.equal(long.code, 2, long.stderr);
    assert.match(long.stderr, /^iatp token: --ttl: expected a duration from 1s to 876000h/);
    assert.equal(long.stdout, "");
    assert.equal((await issue("876000h")).code, 0);

    // A credential signed elsewhere with an exp no Date holds (the claims allow any safe integer).
    const issuer = await generateIssuer();
    const token = await issueCredential(issuer, {
      sub: "a",
      scopes: ["*"],
      ttlMs: 3.6e17,
    });
    const r = await runIatp(["token", "inspect", token, "--keys", issuer.publicKey], { env });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.verified, true);
    assert.match(out.expires_at, /^out of range \(\d+ s\)$/);
    assert.match(out.issued_at, /^\d{4}-\d\d-\d\dT/);
  } finally {
    await tmp.remove();
  }
});

Deno.test("token inspect reads a TOKEN and --keys given as pipes: written in time, read; with no writer, exit 2 once IATP_FILE_READ_TIMEOUT passes", async () => {
  const tmp = await tempDir();
  const env = { IATP_DATA_DIR: tmp.path };
  try {
    const issuer = await generateIssuer();
    const token = await issueCredential(issuer, { sub: "a", scopes: ["*"] });
    const pipes = [`${tmp.path}/token`, `${tmp.path}/keys`];
    for (const p of pipes) {
      assert.ok((await new Deno.Command("mkfifo", { args: [p] }).output()).success, "mkfifo");
    }
    // Each writer opens its pipe once the command reads it, after a while.
    const writers = [token, issuer.publicKey].map(async (text, i) => {
      using w = await Deno.open(pipes[i], { write: true });
      await new Promise((r) => setTimeout(r, 200));
      await w.write(new TextEncoder().encode(`${text}\n`));
    });
    const r = await runIatp(
      ["token", "inspect", `file:${pipes[0]}`, "--keys", `file:${pipes[1]}`],
      { env, timeoutMs: 30_000 },
    );
    // A command that never opened a pipe leaves its writer waiting: release it.
    for (const p of pipes) Deno.openSync(p, { read: true, write: true }).close();
    await Promise.allSettled(writers);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).verified, true);

    const none = await runIatp(["token", "inspect", `file:${pipes[0]}`], {
      env: { ...env, IATP_FILE_READ_TIMEOUT: "300ms" },
      timeoutMs: 30_000,
    });
    assert.equal(none.code, 2, none.stderr);
    assert.match(
      none.stderr,
      /^iatp token: TOKEN: expected a readable file at .*token, found no data arrived within 300ms/,
    );
  } finally {
    await tmp.remove();
  }
});

/** `iatp token ...` through the container image's launcher (scripts/launcher.ts), run here. */
async function viaImageLauncher(args: string[], dataDir: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-env",
      `--allow-run=${Deno.execPath()}`,
      `${ROOT}scripts/launcher.ts`,
      ...args,
    ],
    env: { IATP_DATA_DIR: dataDir },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("both launchers grant token the key files its arguments name, outside the data folder", async () => {
  const tmp = await tempDir("iatp token ");
  const data = `${tmp.path}/data`;
  try {
    for (
      const [launcher, run] of [
        ["scripts/iatp", (a: string[]) => runIatp(a, { env: { IATP_DATA_DIR: data } })],
        ["scripts/launcher.ts", (a: string[]) => viaImageLauncher(a, data)],
      ] as const
    ) {
      const keys = `${tmp.path}/${launcher.replace(/\W/g, "_")} keys`;
      const made = await run(["token", "keygen", `--out=${keys}`]);
      assert.equal(made.code, 0, `${launcher}: ${made.stderr}`);
      const issued = await run([
        "token",
        "issue",
        "--key",
        `${keys}/issuer.key`,
        "--sub",
        "relay",
        "--scope",
        "publish:*",
      ]);
      assert.equal(issued.code, 0, `${launcher}: ${issued.stderr}`);
      Deno.writeTextFileSync(`${tmp.path}/t`, issued.stdout.trim());
      const shown = await run([
        "token",
        "inspect",
        `file:${tmp.path}/t`,
        "--keys",
        `file:${keys}/issuer.pub`,
      ]);
      assert.equal(shown.code, 0, `${launcher}: ${shown.stderr}`);
      assert.equal(JSON.parse(shown.stdout).verified, true, launcher);
    }
    // Nothing was written in the data folder, and what was named alone was granted.
    assert.throws(() => Deno.statSync(data), Deno.errors.NotFound);
  } finally {
    await tmp.remove();
  }
});

Deno.test("token --help and a refused --scope list every scope form docs/security.md lists", async () => {
  const page = await Deno.readTextFile(`${ROOT}docs/security.md`);
  const table = page.slice(
    page.indexOf("\n| Scope "),
    page.indexOf("\n\n", page.indexOf("\n| Scope ")),
  );
  const forms = [...table.matchAll(/^\| `([^`]+)` +\| /gm)].map((m) => m[1]);
  assert.ok(forms.includes("audit:append:<actor>"), forms.join(" "));
  const help = await runIatp(["token", "--help"]);
  const refused = await runIatp(["token", "issue", "--key", "k", "--sub", "s", "--scope", "x:y"]);
  assert.equal(refused.code, 2, refused.stderr);
  for (const form of forms) {
    const shown = form.replace("<pattern>", "<topic pattern>");
    assert.ok(help.stdout.includes(shown), `--help lacks ${shown}`);
    assert.ok(refused.stderr.includes(shown), `the refusal lacks ${shown}`);
  }
});

Deno.test("token issue --out writes the credential owner-only, outside the data dir too, and refuses a folder or a symlink", async () => {
  const tmp = await tempDir();
  const env = { IATP_DATA_DIR: `${tmp.path}/data` };
  const dir = `${tmp.path}/keys`;
  const issue = (out: string) =>
    runIatp([
      ...["token", "issue", "--key", `${dir}/issuer.key`, "--sub", "me"],
      ...["--scope", "publish:demo.*", "--out", out],
    ], { env });
  try {
    assert.equal((await runIatp(["token", "keygen", "--out", dir], { env })).code, 0);
    const out = `${tmp.path}/creds dir/me.token`;
    Deno.mkdirSync(`${tmp.path}/creds dir`);
    const first = await issue(out);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(modeOf(out), 0o600);
    const credential = Deno.readTextFileSync(out);
    assert.match(credential, /^iatp1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}\n$/);
    assert.ok(!first.stdout.includes(credential.trim()), "the credential is not printed");
    // A file a shell redirect made world-readable is made owner-only before it is written.
    Deno.writeTextFileSync(out, "old\n");
    Deno.chmodSync(out, 0o644);
    assert.equal((await issue(out)).code, 0);
    assert.equal(modeOf(out), 0o600);
    const verified = await runIatp(
      ["token", "inspect", `file:${out}`, "--keys", `file:${dir}/issuer.pub`],
      { env },
    );
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal(JSON.parse(verified.stdout).verified, true);

    const folder = await issue(`${tmp.path}/creds dir`);
    assert.equal(folder.code, 2);
    assert.match(folder.stderr, /--out: expected a file, found a folder/);
    Deno.symlinkSync(out, `${tmp.path}/link.token`);
    const link = await issue(`${tmp.path}/link.token`);
    assert.equal(link.code, 2);
    assert.match(link.stderr, /--out: .*link\.token is a symlink/);
    const missing = await issue(`${tmp.path}/nowhere/me.token`);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--out: cannot write .*: its folder does not exist/);
  } finally {
    await tmp.remove();
  }
});
