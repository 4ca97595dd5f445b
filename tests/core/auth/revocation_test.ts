/** Revoked credential ids (fixed and from files re-read on change), and bounded file: settings. */
import assert from "node:assert/strict";
import {
  MAX_REVOCATION_FILE_BYTES,
  RevocationFileError,
  RevocationList,
} from "../../../core/auth/mesh/mod.ts";
import { meshAuthFor } from "../../../core/auth/config.ts";
import { resolveSecretSetting } from "../../../core/auth/settings/mod.ts";
import { MAX_SETTING_FILE_BYTES } from "../../../core/config/mod.ts";
import { ConfigError } from "../../../core/errors/mod.ts";
import { decodeClaims, generateIssuer, issueCredential } from "../../../core/auth/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { ROOT, spawnChild, tempDir, waitFor } from "../../helpers.ts";

const log = createLogger({ service: "test", level: "error" });

/**
 * A list over the file `revoked` in `dir`, holding `aaa` at start and rechecked every 1000 ms
 * of a clock the test moves (`clock.now`).
 */
async function watchedList(dir: string) {
  const file = `${dir}/revoked`;
  await Deno.writeTextFile(file, "aaa\n");
  const clock = { now: 0 };
  const list = new RevocationList([`file:${file}`], { recheckMs: 1000, now: () => clock.now });
  return { file, list, clock };
}

Deno.test("revocation list: fixed ids and file ids; comments and blank lines skipped", async () => {
  const dir = await tempDir();
  try {
    const file = `${dir.path}/revoked`;
    await Deno.writeTextFile(file, "# revoked 2026-12-05\n\naaa\n  bbb  \n");
    const r = new RevocationList(["ccc", `file:${file}`]);
    assert.equal(r.has("aaa"), true);
    assert.equal(r.has("bbb"), true);
    assert.equal(r.has("ccc"), true);
    assert.equal(r.has("# revoked 2026-12-05"), false);
    assert.equal(r.has("ddd"), false);
    assert.equal(r.size, 3);
  } finally {
    await dir.remove();
  }
});

Deno.test("revocation list: an id followed by a comment, or several ids on a line, are each revoked", async () => {
  const dir = await tempDir();
  try {
    const file = `${dir.path}/revoked`;
    await Deno.writeTextFile(
      file,
      "\ufeffaaa # laptop of bob\r\nbbb, ccc\r\nddd\teee   fff#gone\n",
    );
    const r = new RevocationList([`file:${file}`]);
    for (const id of ["aaa", "bbb", "ccc", "ddd", "eee", "fff"]) assert.equal(r.has(id), true, id);
    assert.equal(r.has("aaa # laptop of bob"), false);
    assert.equal(r.size, 6);
  } finally {
    await dir.remove();
  }
});

Deno.test("revocation list: a changed file is re-read; an unreadable one keeps its ids", async () => {
  const dir = await tempDir();
  try {
    const { file, list: r, clock } = await watchedList(dir.path);
    await Deno.writeTextFile(file, "aaa\nbbb-new\n");
    assert.equal(r.has("bbb-new"), false, "not before the recheck interval");
    clock.now = 1000;
    await waitFor(() => r.has("bbb-new"), 5000, "the file to be re-read");
    await Deno.remove(file);
    clock.now = 2000;
    r.has("x");
    await r.refresh();
    assert.equal(r.has("bbb-new"), true, "a read error never lifts a revocation");
    await Deno.writeTextFile(file, "zzz\n");
    await r.refresh();
    assert.equal(r.has("zzz"), true);
    assert.equal(r.has("aaa"), false, "an id taken out of the file is no longer revoked");
  } finally {
    await dir.remove();
  }
});

Deno.test("revocation list: a missing or oversized file at start is an error naming it", async () => {
  const dir = await tempDir();
  try {
    assert.throws(
      () => new RevocationList([`file:${dir.path}/nope`]),
      (e: unknown) => e instanceof RevocationFileError && /nope: no such file/.test(e.message),
    );
    const big = `${dir.path}/big`;
    await Deno.writeTextFile(big, "a".repeat(MAX_REVOCATION_FILE_BYTES + 1));
    assert.throws(() => new RevocationList([`file:${big}`]), /larger than/);
    assert.throws(() => new RevocationList(["file:/dev/zero"]), /larger than/);
    assert.throws(
      () =>
        meshAuthFor({ auth_keys: [], auth_revoked: [`file:${dir.path}/nope`], insecure: false }, {
          command: "audit",
          host: "127.0.0.1",
          log,
        }),
      (e: unknown) => e instanceof ConfigError && /auth_revoked/.test(e.message),
    );
  } finally {
    await dir.remove();
  }
});

Deno.test("revocation list: the first request after the recheck interval already sees a new id", async () => {
  const dir = await tempDir();
  try {
    const { file, list: r, clock } = await watchedList(dir.path);
    await Deno.writeTextFile(file, "aaa\nccc-new\n");
    clock.now = 60_000; // a quiet minute: no request checked the file since it changed
    await r.checked(); // what a credential's check waits for
    assert.equal(r.has("ccc-new"), true, "a revoked credential must not pass once more");
  } finally {
    await dir.remove();
  }
});

Deno.test("a file: setting is read up to a bound: a device or a huge file is a config error", async () => {
  const dir = await tempDir();
  try {
    const big = `${dir.path}/big`;
    await Deno.writeTextFile(big, "a".repeat(MAX_SETTING_FILE_BYTES + 1));
    for (const path of [big, "/dev/zero"]) {
      assert.throws(
        () => resolveSecretSetting("relay_token", `file:${path}`),
        (e: unknown) =>
          e instanceof ConfigError && e.key === "relay_token" &&
          e.message.includes(`larger than ${MAX_SETTING_FILE_BYTES} bytes`),
      );
    }
    await Deno.writeTextFile(big, " fits \n");
    assert.equal(resolveSecretSetting("relay_token", `file:${big}`), "fits");
  } finally {
    await dir.remove();
  }
});

Deno.test("revocation file swapped for a pipe with no writer: the service answers and keeps its list", async () => {
  const dir = await tempDir();
  const issuer = await generateIssuer();
  const revoked = await issueCredential(issuer, { sub: "gone", scopes: ["audit:append"] });
  const valid = await issueCredential(issuer, { sub: "caller", scopes: ["audit:append"] });
  const file = `${dir.path}/revoked`;
  await Deno.writeTextFile(file, `${decodeClaims(revoked).jti}\n`);
  const port = 19000 + Math.floor(Math.random() * 1000);
  const child = spawnChild(Deno.execPath(), [
    "run",
    "-A",
    `${ROOT}tests/support/revocation_swap.ts`,
    dir.path,
    issuer.publicKey,
    String(port),
  ], { env: { IATP_FILE_READ_TIMEOUT: "200ms" } });
  // A bound on each answer so that a service that stopped fails the test rather than hang it.
  const answer = async (path: string, token?: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: token ? "POST" : "GET",
      headers: token
        ? { authorization: `Bearer ${token}`, "content-type": "application/json" }
        : {},
      body: token
        ? JSON.stringify({ tx_id: "tx-p", event: "pipe", actor: "test", payload: {} })
        : undefined,
      signal: AbortSignal.timeout(20_000),
    });
    await res.body?.cancel();
    return res.status;
  };
  try {
    await waitFor(() => child.stdout().includes("URL "), 30_000, child.stderr());
    assert.equal(await answer("/audit", revoked), 401);
    assert.equal(await answer("/audit", valid), 200);
    // A change is seen (the stat of the path sees a new regular file); the open gets a pipe.
    await Deno.writeTextFile(`${file}.shown`, "# emptied\n");
    await Deno.remove(file);
    const made = await new Deno.Command("mkfifo", { args: [file] }).output();
    assert.ok(made.success, "mkfifo");
    await waitFor(
      async () => {
        assert.equal(await answer("/health"), 200, "the service answers while the pipe sits there");
        assert.equal(await answer("/audit", revoked), 401, "a read error never lifts a revocation");
        return child.stdout().includes("revocation list unreadable");
      },
      30_000,
      "the failed re-read to be reported",
    );
    assert.equal((await Deno.lstat(file)).isFifo, true, "the pipe with no writer is still there");
    assert.equal(await answer("/health"), 200);
    assert.equal(await answer("/audit", revoked), 401, "the list in force is kept");
    assert.equal(await answer("/audit", valid), 200);
    assert.match(child.stdout(), /no data arrived within/);
  } finally {
    await child.stop("SIGKILL");
    await dir.remove();
  }
});

Deno.test("a credential given as it is loses the whitespace around it, not a line break within it", () => {
  assert.equal(resolveSecretSetting("relay_token", "tok-0123456789\n"), "tok-0123456789");
  assert.equal(resolveSecretSetting("relay_token", " \r\n"), undefined);
  assert.throws(
    () => resolveSecretSetting("relay_token", "tok-one\ntok-two"),
    /relay_token.*a value of one line.*a line break at character 8/,
  );
});
