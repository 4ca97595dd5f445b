/**
 * Protected mode through the real CLI, for every service that listens for mesh calls: beyond
 * loopback with no credentials it exits 2 naming auth_keys and --insecure; with --insecure it
 * starts and logs a warning; with issuer keys (here from a file) it starts without one.
 */
import assert from "node:assert/strict";
import { generateIssuer } from "../../core/auth/credential.ts";
import { runIatp, startIatpService, tempDir } from "../helpers.ts";

const SERVICES = ["relay", "audit", "policy", "dashboard", "sidecar"];

/** The JSON log lines of a child's stdout. */
function logLines(stdout: string): Array<{ level: string; msg: string }> {
  return stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

for (const service of SERVICES) {
  Deno.test(`protected mode: ${service} --host 0.0.0.0 refuses without credentials`, async () => {
    const dir = await tempDir();
    const env = { IATP_DATA_DIR: dir.path };
    try {
      const refused = await runIatp([service, "--host", "0.0.0.0", "--port", "0"], { env });
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, new RegExp(`iatp ${service}: config error: auth_keys`));
      assert.match(refused.stderr, /--insecure/);
      assert.doesNotMatch(refused.stderr, /\n\s+at /, "no stack trace");
      assert.equal(logLines(refused.stdout).some((l) => l.msg === "listening"), false);

      const open = await startIatpService(
        [service, "--host", "0.0.0.0", "--port", "0", "--insecure"],
        { env },
      );
      try {
        const warned = logLines(open.stdout()).find((l) => l.msg.startsWith("insecure:"));
        assert.equal(warned?.level, "warn", `${service} warns when run open:\n${open.stdout()}`);
      } finally {
        assert.equal((await open.stop("SIGTERM")).code, 0, open.stderr());
      }
    } finally {
      await dir.remove();
    }
  });
}

Deno.test("protected mode: issuer keys from file:PATH satisfy it, with no warning", async () => {
  const dir = await tempDir();
  const issuer = await generateIssuer();
  await Deno.writeTextFile(`${dir.path}/issuer.pub`, issuer.publicKey + "\n");
  const env = { IATP_DATA_DIR: dir.path, IATP_RELAY_AUTH_KEYS: `file:${dir.path}/issuer.pub` };
  try {
    const relay = await startIatpService(["relay", "--host", "0.0.0.0", "--port", "0"], { env });
    try {
      assert.ok(!logLines(relay.stdout()).some((l) => l.msg.startsWith("insecure:")));
      const res = await fetch(`${relay.url}/topics`);
      assert.equal(res.status, 401, "the relay started protected");
      await res.body?.cancel();
    } finally {
      await relay.stop("SIGTERM");
    }
    const bad = await runIatp(["relay", "--host", "0.0.0.0", "--port", "0"], {
      env: { ...env, IATP_RELAY_AUTH_KEYS: `file:${dir.path}/missing.pub` },
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /auth_keys .*missing\.pub/);
  } finally {
    await dir.remove();
  }
});
