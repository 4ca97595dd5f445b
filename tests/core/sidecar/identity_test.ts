/**
 * The sidecar's identity made with its first use: the seed checked at start, the attestation's
 * hash of the sources as they were at start (a changed source file changes it for a sidecar
 * started after the change, and makes it unavailable for one started before), never a hash of
 * bytes the sidecar did not start with.
 */
import assert from "node:assert/strict";
import { createLogger } from "../../../core/log/mod.ts";
import { ConfigError } from "../../../core/errors/mod.ts";
import { FILE_CLOCK_SLACK_MS, hashCodebase, verifyAttestation } from "../../../core/trust/mod.ts";
import { createIdentity, type IdentityOptions } from "../../../core/sidecar/identity.ts";

const SEED = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));

function options(sourceRoot: string, signingSeed: string | undefined = SEED): IdentityOptions {
  return {
    agentId: "bank",
    factors: {
      trustLevel: "trusted",
      reversibility: "full",
      retention: "ephemeral",
      humanInLoop: false,
      trainingConsent: false,
    },
    manifest: {
      owner: "ops@example.com",
      encryptionAtRest: true,
      encryptionInTransit: true,
      scopes: [],
      idempotency: true,
      concurrencyLimit: 100,
      slaLatencyMs: 2000,
      undoWindowSeconds: 3600,
    },
    signingSeed,
    attestationTtlMs: 60_000,
    sourceRoot,
    // The trees here are made after this process started: attested as of the identity's making.
    startedAt: Date.now(),
  };
}

/** A logger that keeps its lines. */
function capture() {
  const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  const log = createLogger({
    service: "sidecar",
    level: "debug",
    sink: (line) => lines.push(JSON.parse(line)),
  });
  return { log, lines };
}

/** A source tree of the shape the attestation hashes. */
async function tree(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "iatp-identity-" });
  await Deno.mkdir(`${dir}/core/a`, { recursive: true });
  await Deno.mkdir(`${dir}/cmd`);
  await Deno.writeTextFile(`${dir}/main.ts`, "export {};\n");
  await Deno.writeTextFile(`${dir}/deno.json`, "{}\n");
  await Deno.writeTextFile(`${dir}/core/a/mod.ts`, "export const a = 1;\n");
  await Deno.writeTextFile(`${dir}/cmd/run.ts`, "export const run = 1;\n");
  await settle();
  return dir;
}

/**
 * Waits out the file clock's lag after the writes so far: a start within it of a write counts
 * that write as after the start.
 */
async function settle(): Promise<void> {
  const written = Date.now();
  while (Date.now() <= written + FILE_CLOCK_SLACK_MS) await new Promise((r) => setTimeout(r, 5));
}

/**
 * Waits until a file written now gets a change time after `t`: Deno reports it in whole seconds
 * (the kernel's clock may lag the wall clock by a tick too), and the change must be seen as after
 * the start even were the modification time put back.
 */
async function fileClockPast(t: number): Promise<void> {
  const probe = await Deno.makeTempFile({ prefix: "iatp-identity-clock-" });
  try {
    for (;;) {
      await Deno.writeTextFile(probe, String(Math.random()));
      const { ctime, mtime } = await Deno.stat(probe);
      if ((ctime ?? mtime)!.getTime() > t) return;
      await new Promise((r) => queueMicrotask(() => r(undefined)));
    }
  } finally {
    await Deno.remove(probe);
  }
}

Deno.test("identity: the attestation hashes the sources of the start, or is unavailable", async () => {
  const dir = await tree();
  try {
    const { log, lines } = capture();
    const before = createIdentity(options(dir), log);
    // Nothing is read or signed at start.
    assert.equal(lines.some((l) => /hashed/.test(l.msg)), false);
    const first = (await before.attestation())!;
    assert.equal(first.codebase_hash, (await hashCodebase(dir)).hash);
    const signed = await before.manifest();
    const publicRaw = Uint8Array.fromBase64(
      JSON.parse(signed.body).identity.verification_key.replace(/^ed25519:/, ""),
    );
    assert.deepEqual(
      await verifyAttestation(first, publicRaw, { configHash: signed.sha256 }),
      { ok: true },
    );

    // A source file changed: a sidecar started after the change attests the new bytes...
    const started = Date.now();
    const unchecked = createIdentity(options(dir), log);
    await fileClockPast(started);
    await Deno.writeTextFile(`${dir}/core/a/mod.ts`, "export const a = 2;\n");
    await settle();
    const after = createIdentity(options(dir), log);
    const changed = (await after.attestation())!;
    assert.notEqual(changed.codebase_hash, first.codebase_hash);
    assert.equal(changed.codebase_hash, (await hashCodebase(dir)).hash);
    // ...the one that hashed before keeps the hash of its start...
    assert.equal((await before.attestation())!.codebase_hash, first.codebase_hash);
    // ...and one started before the change, not yet asked, has none (not the new bytes').
    assert.equal(await unchecked.attestation(), undefined);
    assert.ok(
      lines.some((l) =>
        l.level === "error" && /changed since it started/.test(l.msg) &&
        l.fields?.path === "core/a/mod.ts"
      ),
    );
    assert.equal(await unchecked.attestation(), undefined, "for the life of the process");

    // A file added to (or removed from) a folder changes the folder.
    const again = Date.now();
    const beforeAdd = createIdentity(options(dir), log);
    await fileClockPast(again);
    await Deno.writeTextFile(`${dir}/cmd/new.ts`, "export {};\n");
    assert.equal(await beforeAdd.attestation(), undefined);
    await settle();
    const afterAdd = createIdentity(options(dir), log);
    assert.equal((await afterAdd.attestation())!.codebase_hash, (await hashCodebase(dir)).hash);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("identity: a malformed seed stops the start; no seed warns and keys on first use", async () => {
  const dir = await tree();
  try {
    const { log, lines } = capture();
    for (const bad of ["not base64!", btoa("x".repeat(31)), btoa("x".repeat(33))]) {
      assert.throws(() => createIdentity(options(dir, bad), log), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.key, "signing_key");
        assert.doesNotMatch(err.message, /x{8}/, "the seed is not echoed");
        return true;
      });
    }
    const ephemeral = createIdentity({ ...options(dir), signingSeed: undefined }, log);
    assert.ok(lines.some((l) => l.level === "warn" && /signing_key not set/.test(l.msg)));
    // No key made meanwhile (generating one is async: wait past its promise jobs).
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(lines.some((l) => l.fields?.public_key !== undefined), false);
    const signed = await ephemeral.manifest();
    const key = JSON.parse(signed.body).identity.verification_key;
    const logged = lines.find((l) => l.fields?.public_key !== undefined);
    assert.equal(logged?.fields?.public_key, key, "the generated key is logged when made");
    assert.equal(await ephemeral.manifest(), signed, "one key and one manifest");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("identity: a top-level source removed or relinked after the start is a change", async () => {
  const dir = await tree();
  try {
    await Deno.writeTextFile(`${dir}/deno.lock`, "{}\n");
    await Deno.mkdir(`${dir}/other`);
    await Deno.writeTextFile(`${dir}/other/run.ts`, "export const run = 2;\n");
    await settle();
    const { log, lines } = capture();

    // deno.lock removed: not a hash of a tree without the file the sidecar started with.
    const started = Date.now();
    const removed = createIdentity(options(dir), log);
    await fileClockPast(started);
    await Deno.remove(`${dir}/deno.lock`);
    assert.equal(await removed.attestation(), undefined);
    assert.ok(
      lines.some((l) => /changed since it started/.test(l.msg) && l.fields?.path === "deno.lock"),
    );
    // One absent at the start too is no change.
    await settle();
    const absent = createIdentity(options(dir), log);
    assert.equal((await absent.attestation())!.codebase_hash, (await hashCodebase(dir)).hash);

    // cmd a link, pointed at another folder after the start (the folder itself unchanged).
    await Deno.writeTextFile(`${dir}/deno.lock`, "{}\n");
    await Deno.rename(`${dir}/cmd`, `${dir}/cmd-start`);
    await Deno.symlink(`${dir}/cmd-start`, `${dir}/cmd`);
    await settle();
    const linkedAt = Date.now();
    const relinked = createIdentity(options(dir), log);
    await fileClockPast(linkedAt);
    await Deno.remove(`${dir}/cmd`);
    await Deno.symlink(`${dir}/other`, `${dir}/cmd`);
    assert.equal(await relinked.attestation(), undefined);
    assert.ok(
      lines.some((l) => /changed since it started/.test(l.msg) && l.fields?.path === "cmd"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("identity: by default the sources are attested as of the process's start, before its code loaded", async () => {
  // A source written after the process started but before the identity was made: the code
  // loaded at start may be the bytes before that write, so they are not attested as running.
  const script = await Deno.makeTempFile({ prefix: "iatp-identity-origin-", suffix: ".ts" });
  const identity = new URL("../../../core/sidecar/identity.ts", import.meta.url).href;
  const logMod = new URL("../../../core/log/mod.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { createIdentity } from ${JSON.stringify(identity)};
import { createLogger } from ${JSON.stringify(logMod)};
const dir = Deno.makeTempDirSync();
Deno.mkdirSync(dir + "/core");
Deno.writeTextFileSync(dir + "/main.ts", "export {};\\n");
Deno.writeTextFileSync(dir + "/core/a.ts", "export const a = 1;\\n");
const lines = [];
const log = createLogger({ service: "sidecar", level: "debug", sink: (l) => lines.push(l) });
const opts = ${JSON.stringify({ ...options("/"), startedAt: undefined })};
const id = createIdentity({ ...opts, sourceRoot: dir }, log);
const att = await id.attestation();
Deno.removeSync(dir, { recursive: true });
console.log(JSON.stringify({ attested: att !== undefined, changed: lines.some((l) => l.includes("changed since it started")) }));
`,
  );
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(JSON.parse(stdout.trim()), { attested: false, changed: true });
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("identity: a source written within the second of the start is a change", async () => {
  // Deno reports a file's status-change time in whole seconds: one written 5 ms after the start
  // shows the start's second, not a time after it.
  const dir = await tree();
  try {
    const { log } = capture();
    while (Date.now() % 1000 > 400) await new Promise((r) => setTimeout(r, 20));
    const started = Date.now();
    const id = createIdentity({ ...options(dir), startedAt: started }, log);
    while (Date.now() < started + 5) await new Promise((r) => setTimeout(r, 1));
    await Deno.writeTextFile(`${dir}/core/a/mod.ts`, "export const a = 3;\n");
    assert.equal(await id.attestation(), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("identity: a source stamped within the file clock's lag before the start is a change", async () => {
  // The kernel stamps files from a clock that may lag the wall clock by a tick: a write a few ms
  // after the start can carry a time before it. One so stamped is not attested as the start's.
  const dir = await tree();
  try {
    const { log, lines } = capture();
    await Deno.writeTextFile(`${dir}/core/a/mod.ts`, "export const a = 3;\n");
    const { ctime, mtime } = await Deno.stat(`${dir}/core/a/mod.ts`);
    const stamped = Math.max(ctime!.getTime(), mtime!.getTime());
    // Started 8 ms after that stamp: less than a tick at 100 Hz, the coarsest kernel clock.
    const id = createIdentity({ ...options(dir), startedAt: stamped + 8 }, log);
    assert.equal(await id.attestation(), undefined);
    assert.ok(lines.some((l) => l.fields?.path === "core/a/mod.ts"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
