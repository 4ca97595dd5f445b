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
import { createLogger } from "../../../core/log/mod.ts";
import { tempDir, waitFor } from "../../helpers.ts";

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
