/**
 * HTTPS: with tls_cert_file and tls_key_file the edge listens with Deno.listenTls and serves
 * the same routes; one without the other is a usage error naming both settings.
 * Certificates are made with openssl; the test is ignored where openssl is missing.
 * @module
 */
import assert from "node:assert/strict";
import { UsageError } from "../../../core/errors/mod.ts";
import { createServer } from "../../../core/http/mod.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { tempDir } from "../../helpers.ts";
import { hasOpenssl, makeCerts } from "../../support/certs.ts";

Deno.test({
  name: "HTTPS with a configured certificate and key",
  ignore: !hasOpenssl,
  async fn() {
    const dir = await tempDir();
    try {
      await makeCerts(dir.path);
      const server = createServer({
        service: "t",
        host: "127.0.0.1",
        port: 0,
        log: silentLogger,
        tlsCertFile: `${dir.path}/cert.pem`,
        tlsKeyFile: `${dir.path}/key.pem`,
      });
      const app = await server.loadApp();
      app.post("/echo", async (c) => c.json({ got: await c.req.text() }));
      const svc = await server.listen();
      const client = Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(`${dir.path}/ca.pem`)],
      });
      try {
        assert.match(svc.url, /^https:\/\/127\.0\.0\.1:\d+$/);
        const r = await fetch(`${svc.url}/echo`, { method: "POST", body: "hi", client });
        assert.deepEqual(await r.json(), { got: "hi" });
      } finally {
        client.close();
        await svc.close();
      }
    } finally {
      await dir.remove();
    }
  },
});

Deno.test("a certificate without a key (or the reverse) is refused at listen", async () => {
  const server = createServer({
    service: "t",
    host: "127.0.0.1",
    port: 0,
    log: silentLogger,
    tlsCertFile: "/nonexistent/cert.pem",
  });
  await assert.rejects(
    server.listen(),
    (err) => err instanceof UsageError && /tls_cert_file and tls_key_file/.test(err.message),
  );
});

Deno.test("a file that holds no certificate is refused at listen, naming the settings", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir.path}/junk.pem`, "not a certificate\n");
    const server = createServer({
      service: "t",
      host: "127.0.0.1",
      port: 0,
      log: silentLogger,
      tlsCertFile: `${dir.path}/junk.pem`,
      tlsKeyFile: `${dir.path}/junk.pem`,
    });
    await assert.rejects(
      server.listen(),
      (err) => err instanceof UsageError && /^tls_cert_file\/tls_key_file: /.test(err.message),
    );
  } finally {
    await dir.remove();
  }
});
