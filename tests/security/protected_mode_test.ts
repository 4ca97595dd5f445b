/**
 * Protected mode through the real CLI, for every service that listens for mesh calls: beyond
 * loopback with no credentials it exits 2 naming auth_keys and --insecure; with --insecure it
 * starts and logs a warning; with issuer keys (here from a file) it starts without one. With
 * keys, beyond loopback and without TLS, it warns that credentials arrive over plain HTTP.
 */
import assert from "node:assert/strict";
import { generateIssuer } from "../../core/auth/mod.ts";
import { runIatp, startIatpService, tempDir } from "../helpers.ts";
import { makeCerts } from "../support/certs.ts";

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
      // The address's source and the service's own variable for --insecure are named.
      const insecureEnv = `IATP_${service.toUpperCase().replaceAll("-", "_")}_INSECURE=true`;
      assert.ok(refused.stderr.includes("0.0.0.0 (host, flag --host)"), refused.stderr);
      assert.ok(refused.stderr.includes(insecureEnv), refused.stderr);
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
  await Deno.writeTextFile(`${dir.path}/issuer.pub`, `# mesh issuer\n${issuer.publicKey}\n`);
  const env = { IATP_DATA_DIR: dir.path };
  const keys = ["--auth-keys", `file:${dir.path}/issuer.pub`];
  try {
    for (const service of SERVICES) {
      const svc = await startIatpService(
        [service, "--host", "0.0.0.0", "--port", "0", ...keys],
        { env },
      );
      try {
        assert.ok(!logLines(svc.stdout()).some((l) => l.msg.startsWith("insecure:")), service);
        if (service === "relay") {
          const res = await fetch(`${svc.url}/topics`);
          assert.equal(res.status, 401, "the relay started protected");
          await res.body?.cancel();
        }
      } finally {
        assert.equal((await svc.stop("SIGTERM")).code, 0, svc.stderr());
      }
    }
    const bad = await runIatp(
      ["relay", "--host", "0.0.0.0", "--port", "0", "--auth-keys", `file:${dir.path}/none.pub`],
      { env },
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /auth_keys .*none\.pub/);
  } finally {
    await dir.remove();
  }
});

Deno.test("protected mode: credentials over plain HTTP beyond loopback are warned of", async () => {
  const dir = await tempDir();
  const issuer = await generateIssuer();
  await Deno.writeTextFile(`${dir.path}/issuer.pub`, `${issuer.publicKey}\n`);
  await makeCerts(dir.path);
  const env = { IATP_DATA_DIR: dir.path };
  const keys = ["--auth-keys", `file:${dir.path}/issuer.pub`];
  const tls = ["--tls-cert-file", `${dir.path}/cert.pem`, "--tls-key-file", `${dir.path}/key.pem`];
  const plainWarning = (stdout: string) =>
    logLines(stdout).find((l) => l.msg.startsWith("credentials are accepted over plain HTTP"));
  let port = 19_471;
  try {
    for (const service of SERVICES) {
      for (
        const [host, extra, warns] of [
          ["0.0.0.0", [], true],
          ["127.0.0.1", [], false],
          ["0.0.0.0", tls, false],
        ] as const
      ) {
        const svc = await startIatpService(
          [service, "--host", host, "--port", String(port++), ...keys, ...extra],
          { env },
        );
        try {
          const warned = plainWarning(svc.stdout());
          assert.equal(warned?.level, warns ? "warn" : undefined, `${service} on ${host}`);
        } finally {
          assert.equal((await svc.stop("SIGTERM")).code, 0, svc.stderr());
        }
      }
    }
  } finally {
    await dir.remove();
  }
});
