/**
 * mTLS to the orchestrator: a TLS front (node:https, client certificates required) proxies to the
 * fake orchestrator; the agent reaches it only with the configured client cert, key and CA.
 * Certificates are made with openssl; the test is skipped where openssl is missing.
 */
import assert from "node:assert/strict";
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { command } from "../../../cmd/action.ts";
import { startFakeOrchestrator } from "../../support/fake_orchestrator.ts";
import { tempDir, waitFor } from "../../helpers.ts";
import { hasOpenssl, openssl } from "../../support/certs.ts";

/** A CA (ca.pem), a server certificate for localhost and a client certificate it signed. */
async function makeCerts(dir: string): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl(
    dir,
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=t-ca",
  );
  for (
    const [name, ext] of [["server", "subjectAltName=DNS:localhost"], [
      "client",
      "extendedKeyUsage=clientAuth",
    ]]
  ) {
    await Deno.writeTextFile(join(dir, `${name}.ext`), ext + "\n");
    await openssl(
      dir,
      "req",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}-cn`,
    );
    await openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
    );
  }
}

/**
 * A TLS front requiring client certs, proxying to `upstream`; records the client CNs seen and
 * counts the handshakes it refused.
 */
async function tlsFront(dir: string, upstream: string) {
  const read = (f: string) => Deno.readTextFileSync(join(dir, f));
  const clients: string[] = [];
  let refused = 0;
  const server = https.createServer({
    key: read("server.key"),
    cert: read("server.pem"),
    ca: read("ca.pem"),
    requestCert: true,
    rejectUnauthorized: true,
  }, async (req: IncomingMessage, res: ServerResponse) => {
    // deno-lint-ignore no-explicit-any -- node's TLSSocket type is not in Deno's node typings
    clients.push((req.socket as any).getPeerCertificate()?.subject?.CN);
    const chunks: Uint8Array[] = [];
    for await (const c of req) chunks.push(c);
    const body = chunks.length ? new Blob(chunks as BlobPart[]) : undefined;
    const r = await fetch(upstream + req.url, {
      method: req.method,
      headers: {
        authorization: String(req.headers.authorization ?? ""),
        "content-type": "application/json",
      },
      body: req.method === "GET" ? undefined : body,
    });
    res.writeHead(r.status, { "content-type": "application/json" });
    res.end(await r.text());
  });
  server.on("tlsClientError", () => refused++);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", () => ok()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://localhost:${port}`,
    clients,
    refused: () => refused,
    close: () => new Promise((r) => server.close(r)),
  };
}

Deno.test({
  name: "mTLS: the agent presents its client certificate and trusts the configured CA",
  ignore: !hasOpenssl,
  async fn() {
    const dir = await tempDir();
    const orch = await startFakeOrchestrator({ agentId: "tls-agent", token: "tls-token-123" });
    await makeCerts(dir.path);
    const front = await tlsFront(dir.path, orch.url);
    const base = (tls: Record<string, string>) =>
      command.resolve({
        agent: {
          id: "tls-agent",
          base_folder: join(dir.path, "base"),
          heartbeat: 200,
          poll_interval: 200,
        },
        api: { base_url: front.url, retry_attempts: 0 },
        security: { auth: { api_key: "tls-token-123" }, tls },
        health: { port: 0 },
        logging: { level: "error" },
      });
    try {
      const p = (f: string) => join(dir.path, f);
      let svc = await command.start(
        base({ cert_file: p("client.pem"), key_file: p("client.key"), ca_file: p("ca.pem") }),
      );
      await waitFor(
        () => orch.polls().length >= 1 && orch.heartbeats().length >= 1,
        20_000,
        "mTLS calls",
      );
      await svc.close();
      assert.ok(front.clients.length >= 2);
      assert.ok(front.clients.every((cn) => cn === "client-cn"), front.clients.join(","));
      assert.equal(orch.heartbeats().at(-1)?.status, "offline");
      // Without a client certificate the TLS front refuses: no call gets through.
      const before = orch.requests.length;
      const refusedBefore = front.refused();
      svc = await command.start(base({ ca_file: p("ca.pem") }));
      await waitFor(() => front.refused() > refusedBefore, 20_000, "a refused handshake");
      await svc.close();
      assert.equal(orch.requests.length, before);
    } finally {
      await front.close();
      await orch.close();
      await dir.remove();
    }
  },
});
