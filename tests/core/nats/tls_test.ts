/**
 * TLS to a real nats-server: a relay trusts the private CA `nats.tls_ca` names and checks the
 * server's certificate against the host of its URL (an IP address included); it refuses a server
 * whose certificate it cannot verify, and one that does not speak TLS when the URL is `tls://`.
 * @module
 */
import assert from "node:assert/strict";
import { hasOpenssl, makeCerts } from "../../support/certs.ts";
import { natsMissing, startConfiguredNats, startNats } from "../../support/nats.ts";
import { runIatp, startIatpService, tempDir } from "../../helpers.ts";

Deno.test({
  name: "relay on tls:// trusts the CA of nats.tls_ca (or DENO_CERT, for a server that requires " +
    "TLS) for a certificate made for the URL's IP address, and refuses an unverified server or " +
    "one without TLS (exit 2 naming store)",
  ignore: natsMissing !== undefined || !hasOpenssl,
}, async () => {
  const dir = await tempDir();
  await makeCerts(dir.path); // a CA, and a certificate for IP 127.0.0.1 only
  const tlsNats = await startConfiguredNats(
    `tls { cert_file: "${dir.path}/cert.pem", key_file: "${dir.path}/key.pem" }`,
  );
  const plain = await startNats(1);
  const url = tlsNats.url.replace("nats://", "tls://");
  const relay = (store: string, ...extra: string[]) => [
    "relay",
    "--port",
    "0",
    "--compat",
    "iatp",
    "--store",
    store,
    "--nats-timeout",
    "3s",
    ...extra,
  ];
  try {
    const trusted = await startIatpService(relay(url, "--nats-tls-ca", `${dir.path}/ca.pem`));
    try {
      const r = await fetch(`${trusted.url}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "t", payload: { n: 1 } }),
      });
      assert.equal(r.status, 201, await r.text());
    } finally {
      await trusted.stop();
    }
    // A nats:// URL to a server that requires TLS: the CA may come from the runtime's DENO_CERT.
    const required = await startIatpService(relay(tlsNats.url), {
      env: { DENO_CERT: `${dir.path}/ca.pem` },
    });
    await required.stop();
    const untrusted = await runIatp(relay(url), { timeoutMs: 30_000 });
    assert.equal(untrusted.code, 2, untrusted.stderr);
    assert.match(untrusted.stderr, /store .*tls:\/\/127\.0\.0\.1:\d+: .*certificate/);
    const noTls = await runIatp(
      relay(plain.url.replace("nats://", "tls://"), "--nats-tls-ca", `${dir.path}/ca.pem`),
      { timeoutMs: 30_000 },
    );
    assert.equal(noTls.code, 2, noTls.stderr);
    assert.match(noTls.stderr, /store .*tls:\/\/127\.0\.0\.1:\d+: .*tls/);
  } finally {
    await tlsNats.stop();
    await plain.stop();
    await dir.remove();
  }
});

Deno.test({
  name: "relay on tls:// with the CA trusted still refuses a certificate made for another IP " +
    "address or name than the URL's host (exit 2 naming store)",
  ignore: natsMissing !== undefined || !hasOpenssl,
}, async () => {
  for (
    const [san, host] of [["IP:127.0.0.2", "127.0.0.1"], ["DNS:other.test", "127.0.0.1"], [
      "IP:127.0.0.1",
      "localhost",
    ]]
  ) {
    const dir = await tempDir();
    await makeCerts(dir.path, san);
    const nats = await startConfiguredNats(
      `tls { cert_file: "${dir.path}/cert.pem", key_file: "${dir.path}/key.pem" }`,
    );
    try {
      const url = nats.url.replace("nats://127.0.0.1", `tls://${host}`);
      const r = await runIatp([
        "relay",
        "--port",
        "0",
        "--store",
        url,
        "--nats-tls-ca",
        `${dir.path}/ca.pem`,
        "--nats-timeout",
        "3s",
      ], { timeoutMs: 30_000 });
      assert.equal(r.code, 2, `${san} for ${host}: ${r.stderr}`);
      assert.match(r.stderr, /store .*does not match certificate's altnames/, `${san} for ${host}`);
    } finally {
      await nats.stop();
      await dir.remove();
    }
  }
});
