/**
 * `iatp plugin keygen|sign|verify` through scripts/iatp (the permission-table flags): key files
 * and their modes, exit 0 verified / 1 not / 2 bad usage, messages naming the reason.
 */
import assert from "node:assert/strict";
import { runIatp } from "../helpers.ts";
import { makePlugin } from "./plugin_helpers.ts";

Deno.test("plugin keygen, sign and verify: files, modes and exit codes", async () => {
  const p = await makePlugin({ "mod.ts": "export function execute() { return 1; }\n" });
  const env = { IATP_ALLOW_READ: p.root, IATP_ALLOW_WRITE: p.root };
  const key = `${p.root}/signing.key`;
  const iatp = (...args: string[]) => runIatp(["plugin", ...args], { env });
  try {
    const gen = await iatp("keygen", "--out", key);
    assert.equal(gen.code, 0, gen.stderr);
    assert.equal(Deno.statSync(key).mode! & 0o777, 0o600);
    const pub = Deno.readTextFileSync(`${key}.pub`).trim();
    assert.match(pub, /^iatp-ed25519:[A-Za-z0-9_-]{43}$/);
    assert.ok(!gen.stdout.includes(Deno.readTextFileSync(key).trim()), "the seed is not printed");
    assert.equal((await iatp("keygen", "--out", key)).code, 2, "no overwrite");

    const sign = await iatp("sign", p.dir, "--key", key);
    assert.equal(sign.code, 0, sign.stderr);
    assert.match(sign.stdout, /^signed .*: key [0-9a-f]{16}, sha256:[0-9a-f]{64} over 2 file\(s\)/);

    const ok = await iatp("verify", p.dir, "--trusted-keys", `file:${key}.pub`);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^verified /);
    const byEnv = await runIatp(["plugin", "verify", p.dir], {
      env: { ...env, IATP_PLUGINS_TRUSTED_KEYS: pub },
    });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    // Trusted keys from a pipe: read once written, and with no writer refused once
    // IATP_FILE_READ_TIMEOUT passes.
    const pipe = `${p.root}/keys.pipe`;
    assert.ok((await new Deno.Command("mkfifo", { args: [pipe] }).output()).success, "mkfifo");
    const writer = (async () => {
      using w = await Deno.open(pipe, { write: true });
      await w.write(new TextEncoder().encode(`${pub}\n`));
    })();
    const piped = await iatp("verify", p.dir, "--trusted-keys", `file:${pipe}`);
    Deno.openSync(pipe, { read: true, write: true }).close(); // a writer still waiting goes
    await writer.catch(() => {});
    assert.equal(piped.code, 0, piped.stderr);
    const unwritten = await runIatp(
      ["plugin", "verify", p.dir, "--trusted-keys", `file:${pipe}`],
      { env: { ...env, IATP_FILE_READ_TIMEOUT: "300ms" }, timeoutMs: 30_000 },
    );
    assert.equal(unwritten.code, 2, unwritten.stderr);
    assert.match(
      unwritten.stderr,
      /--trusted-keys: expected a readable file at .*keys\.pipe, found no data arrived within 300ms/,
    );

    await iatp("keygen", "--out", `${p.root}/other.key`);
    const other = Deno.readTextFileSync(`${p.root}/other.key.pub`).trim();
    const wrong = await iatp("verify", p.dir, "--trusted-keys", other);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /not verified \(unknown_key\)/);
    // Either of two trusted keys will do.
    assert.equal(
      (await iatp("verify", p.dir, "--trusted-keys", other, "--trusted-keys", pub)).code,
      0,
    );

    Deno.writeTextFileSync(`${p.dir}/mod.ts`, "export function execute() { return 2; }\n");
    const changed = await iatp("verify", p.dir, "--trusted-keys", pub);
    assert.equal(changed.code, 1);
    assert.match(changed.stderr, /not verified \(digest_mismatch\)/);
    assert.doesNotMatch(changed.stderr, /\bat file:/, "no stack trace");

    // Usage errors: 2, naming what is wrong.
    const noKeys = await iatp("verify", p.dir);
    assert.equal(noKeys.code, 2);
    assert.match(noKeys.stderr, /--trusted-keys KEY\|file:PATH or set IATP_PLUGINS_TRUSTED_KEYS/);
    const badKey = await iatp("verify", p.dir, "--trusted-keys", "not-a-key");
    assert.equal(badKey.code, 2);
    assert.match(badKey.stderr, /--trusted-keys: expected public keys/);
    assert.equal((await iatp("sign", p.dir)).code, 2, "missing --key");
    const garbage = `${p.root}/garbage.key`;
    Deno.writeTextFileSync(garbage, "nope\n");
    const notKey = await iatp("sign", p.dir, "--key", garbage);
    assert.equal(notKey.code, 2);
    assert.match(notKey.stderr, /--key: .* is not a signing key/);
    const endless = await iatp("sign", p.dir, "--key", "/dev/zero");
    assert.equal(endless.code, 2, endless.stderr);
    assert.match(endless.stderr, /--key: \/dev\/zero is not a signing key/);
    assert.equal((await iatp("verify", `${p.root}/missing`, "--trusted-keys", pub)).code, 2);
    assert.equal((await iatp("keygen")).code, 2, "missing --out");

    Deno.symlinkSync("/etc/hostname", `${p.dir}/link`);
    const sym = await iatp("sign", p.dir, "--key", key);
    assert.equal(sym.code, 1);
    assert.match(sym.stderr, /not signed \(unsupported_file\): symlinks are not allowed: link/);
  } finally {
    await p.remove();
  }
});

Deno.test("plugin keygen and sign work on paths anywhere: the launcher grants what they name", async () => {
  const p = await makePlugin({ "mod.ts": "export function execute() { return 1; }\n" });
  try {
    await Deno.mkdir(`${p.root}/keys`);
    const gen = await runIatp(["plugin", "keygen", "--out", `${p.root}/keys/k`]);
    assert.equal(gen.code, 0, gen.stderr);
    const r = await runIatp(["plugin", "sign", p.dir, "--key", `${p.root}/keys/k`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Deno.statSync(`${p.dir}/plugin.sig`).isFile);
  } finally {
    await p.remove();
  }
});

Deno.test("plugin keygen --out where no file can be made exits 2 naming --out and the path", async () => {
  const p = await makePlugin({ "mod.ts": "export function execute() { return 1; }\n" });
  try {
    const missing = await runIatp(["plugin", "keygen", "--out", `${p.root}/no/such/k`]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(
      missing.stderr,
      /^iatp plugin: --out: cannot write .*\/no\/such\/k: its folder does not exist$/m,
    );
    await Deno.writeTextFile(`${p.root}/file`, "");
    const underFile = await runIatp(["plugin", "keygen", "--out", `${p.root}/file/k`]);
    assert.equal(underFile.code, 2, underFile.stderr);
    assert.match(
      underFile.stderr,
      /^iatp plugin: --out: cannot write .*\/file\/k: Not a directory/m,
    );
  } finally {
    await p.remove();
  }
});

Deno.test("plugin verify: file: keys in IATP_PLUGINS_TRUSTED_KEYS are read, and errors name it", async () => {
  const p = await makePlugin({ "mod.ts": "export function execute() { return 1; }\n" });
  const keys = await Deno.makeTempDir({ prefix: "iatp keys " });
  const key = `${keys}/dev key`;
  try {
    const own = { IATP_ALLOW_READ: p.root, IATP_ALLOW_WRITE: `${p.root},${keys}` };
    assert.equal((await runIatp(["plugin", "keygen", "--out", key], { env: own })).code, 0);
    assert.equal(
      (await runIatp(["plugin", "sign", p.dir, "--key", key], { env: own })).code,
      0,
    );
    // Only the plugin folder is allowed by hand: the key file is granted because the env names it.
    const env = { IATP_ALLOW_READ: p.root, IATP_PLUGINS_TRUSTED_KEYS: `file:${key}.pub` };
    const ok = await runIatp(["plugin", "verify", p.dir], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^verified /);
    const bad = await runIatp(["plugin", "verify", p.dir], {
      env: { ...env, IATP_PLUGINS_TRUSTED_KEYS: `file:${keys}/none.pub` },
    });
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(
      bad.stderr.trim(),
      `iatp plugin: IATP_PLUGINS_TRUSTED_KEYS: expected a readable file at ${keys}/none.pub, ` +
        "found no such file",
    );
  } finally {
    await p.remove();
    await Deno.remove(keys, { recursive: true });
  }
});

Deno.test("plugin sign: the README init writes, run as written in the plugin folder, signs without shipping the private key", async () => {
  const root = await Deno.makeTempDir({ prefix: "iatp plugin home " });
  const dir = `${root}/my-check`;
  try {
    const init = await runIatp(["plugin", "init", dir]);
    assert.equal(init.code, 0, init.stderr);
    // The README's signing lines, each `iatp ARGS...` run from the plugin folder.
    const lines = Deno.readTextFileSync(`${dir}/README.md`).split("\n")
      .map((l) => l.trim()).filter((l) => /^iatp plugin (keygen|sign) /.test(l));
    assert.equal(lines.length, 2, "a keygen line and a sign line");
    for (const line of lines) {
      const r = await runIatp(line.split(" ").slice(1), { cwd: dir });
      assert.equal(r.code, 0, `${line}: ${r.stderr}`);
    }
    const inside = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(inside, ["README.md", "mod.ts", "plugin.sig", "plugin.yaml", "sdk.ts"]);

    // A key inside the folder it signs is refused: it would ship, signed, with the plugin.
    const key = `${dir}/signing.key`;
    assert.equal((await runIatp(["plugin", "keygen", "--out", key])).code, 0);
    Deno.removeSync(`${dir}/plugin.sig`);
    const r = await runIatp(["plugin", "sign", dir, "--key", key]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--key: .*signing\.key is inside .*my-check, the folder it signs/);
    assert.match(r.stderr, /keep the key outside the plugin folder/);
    assert.throws(() => Deno.statSync(`${dir}/plugin.sig`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
