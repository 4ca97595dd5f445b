/**
 * A relay stream lives only as long as the credential that opened it: revoking its `jti` (a line
 * appended to the revocation file while the relay runs) or its `exp` passing ends the open
 * subscription, not only the holder's next request. Streams of credentials still valid go on.
 * The status agent's metrics stream likewise.
 */
import assert from "node:assert/strict";
import * as relay from "../../cmd/relay.ts";
import * as status from "../../cmd/status.ts";
import { statusSpec } from "../../cmd/status/config.ts";
import { decodeClaims, generateIssuer, issueCredential } from "../../core/auth/mod.ts";
import { createLogger } from "../../core/log/mod.ts";
import { tempDir } from "../helpers.ts";

/**
 * Reads a stream to its end; fails if it is still open after a generous bound (many heartbeats:
 * it then outlived its credential).
 */
async function readToEnd(res: Response, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: the stream is still open`)), 15_000);
  });
  try {
    await Promise.race([res.text(), bound]);
  } finally {
    clearTimeout(timer);
    await res.body?.cancel().catch(() => {});
  }
}

/** Reads a stream until `text` appears. */
async function readUntil(res: Response, text: string): Promise<void> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${JSON.stringify(text)}: ${seen}`);
    seen += value;
  }
  await reader.cancel();
}

Deno.test("relay: an open subscription ends once its credential is revoked or expires", async () => {
  const issuer = await generateIssuer();
  const dir = await tempDir();
  const file = `${dir.path}/revoked`;
  await Deno.writeTextFile(file, "# revoked credential ids\n");
  const svc = await relay.start(
    relay.spec.resolve({
      port: 0,
      workers: 1,
      heartbeat: 100,
      auth_keys: [issuer.publicKey],
      auth_revoked: [`file:${file}`],
    }),
    { log: createLogger({ service: "relay", level: "error" }) },
  );
  const scopes = ["subscribe:x.*"];
  const leaked = await issueCredential(issuer, { sub: "leaked", scopes });
  const shortLived = await issueCredential(issuer, { sub: "brief", scopes, ttlMs: 2000 });
  const kept = await issueCredential(issuer, { sub: "kept", scopes });
  const admin = await issueCredential(issuer, { sub: "admin", scopes: ["*"] });
  const open = async (token: string) => {
    const res = await fetch(`${svc.url}/subscribe?topic=x.*`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200);
    return res;
  };
  try {
    const [revokedStream, expiringStream, keptStream] = await Promise.all(
      [leaked, shortLived, kept].map(open),
    );
    await Deno.writeTextFile(file, `${decodeClaims(leaked).jti}\n`, { append: true });
    await readToEnd(revokedStream, "revoked");
    await readToEnd(expiringStream, "expired");
    // Refused from then on, while the credential still valid keeps its stream and gets events.
    const again = await fetch(`${svc.url}/subscribe?topic=x.*`, {
      headers: { authorization: `Bearer ${leaked}` },
    });
    assert.equal(again.status, 401);
    await again.body?.cancel();
    const pub = await fetch(`${svc.url}/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ topic: "x.after", payload: { n: "after" } }),
    });
    assert.equal(pub.status, 200, await pub.text());
    await readUntil(keptStream, '"after"');
  } finally {
    await svc.close();
    await dir.remove();
  }
});

Deno.test("status: a metrics stream ends once its credential is revoked or expires", async () => {
  const issuer = await generateIssuer();
  const dir = await tempDir();
  const file = `${dir.path}/revoked`;
  await Deno.writeTextFile(file, "# revoked credential ids\n");
  const svc = await status.start(
    statusSpec.resolve({
      port: 0,
      disk_path: dir.path,
      metrics_interval: 100,
      drain_timeout: 2_000,
      auth_keys: [issuer.publicKey],
      auth_revoked: [`file:${file}`],
    }),
    { log: createLogger({ service: "status", level: "error" }) },
  );
  const scopes = ["status:read"];
  const leaked = await issueCredential(issuer, { sub: "leaked", scopes });
  const shortLived = await issueCredential(issuer, { sub: "brief", scopes, ttlMs: 2000 });
  const kept = await issueCredential(issuer, { sub: "kept", scopes });
  const open = async (token: string) => {
    const res = await fetch(`${svc.url}/api/v1/metrics/stream`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 200);
    return res;
  };
  try {
    const [revokedStream, expiringStream, keptStream] = await Promise.all(
      [leaked, shortLived, kept].map(open),
    );
    await Deno.writeTextFile(file, `${decodeClaims(leaked).jti}\n`, { append: true });
    await readToEnd(revokedStream, "revoked");
    await readToEnd(expiringStream, "expired");
    // Samples keep coming to the credential still valid.
    await readUntil(keptStream, "event: metrics");
    await readUntil(await open(kept), "event: metrics");
  } finally {
    await svc.close();
    await dir.remove();
  }
});
