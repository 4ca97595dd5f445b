/**
 * A sidecar whose relay and ledger credentials lack the scopes to publish `iatp.trace` and to
 * append its decisions: every record is refused and dropped, and `/health` says so on every
 * isolate (degraded, naming the relay, the ledger and their reasons) while requests are served
 * as before.
 */
import assert from "node:assert/strict";
import { command as auditCommand } from "../../../cmd/audit.ts";
import { generateIssuer, issueCredential } from "../../../core/auth/mod.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { startRelay } from "../../core/relay/relay_helpers.ts";
import { exchange, json } from "../../support/raw_http.ts";
import { startIatpService, tempDir, waitFor } from "../../helpers.ts";
import { post, startAgent } from "./fixtures.ts";

const READER = "reads-only-credential-0001";

Deno.test("sidecar: records the relay and the ledger refuse for good make /health degraded on every isolate", async () => {
  const dir = await tempDir("iatp-sidecar-refused-");
  const agent = startAgent();
  const relay = await startRelay({ tokens: { [READER]: ["subscribe:*"] } });
  const issuer = await generateIssuer();
  const audit = await auditCommand.start(
    auditCommand.resolve({ port: 0, db: `${dir.path}/audit.db`, auth_keys: [issuer.publicKey] }),
    { log: silentLogger },
  );
  const auditToken = await issueCredential(issuer, { sub: "sc", scopes: ["publish:x"] });
  const sc = await startIatpService([
    "sidecar",
    ...["--port", "0", "--workers", "2", "--agent-url", agent.url],
    ...["--relay-url", relay.url, "--relay-token", READER],
    ...["--audit-url", audit.url, "--audit-token", auditToken],
  ], { env: { IATP_DATA_DIR: dir.path } });
  const port = Number(new URL(sc.url).port);
  /** `/health` on a fresh connection: the kernel spreads them over both isolates. */
  const health = async () =>
    json(
      (await exchange(
        port,
        "GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
      ))!,
    );
  try {
    assert.equal((await health()).status, "healthy", "nothing handed on yet");
    for (let i = 0; i < 8; i++) {
      const res = await post(sc.url, { q: i }, { connection: "close" });
      assert.equal(res.status, 200, "requests are served whatever becomes of their records");
    }
    // Every isolate: twenty fresh connections in a row, each degraded.
    await waitFor(
      async () => {
        for (let i = 0; i < 20; i++) if ((await health()).status !== "degraded") return false;
        return true;
      },
      20_000,
      "/health degraded on every isolate",
    );
    const reason = String((await health()).reason);
    assert.match(
      reason,
      /relay: the latest event was refused and dropped: relay answered 403: credential lacks scope publish:iatp\.trace/,
    );
    assert.match(reason, /audit: the latest decision was refused by the ledger and dropped: .*403/);
    for (const secret of [READER, auditToken]) assert.ok(!reason.includes(secret));
  } finally {
    await sc.stop();
    await audit.close();
    await relay.close();
    await agent.close();
    await dir.remove();
  }
});
