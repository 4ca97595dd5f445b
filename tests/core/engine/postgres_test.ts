/**
 * core/engine's PostgreSQL client on a real throwaway server: the hosts of the URL reach the
 * client as written, an IPv6 literal (`[::1]:PORT`) included.
 * @module
 */
import assert from "node:assert/strict";
import { checkPostgres, connectPostgres, isPostgresOutage } from "../../../core/engine/mod.ts";
import { postgresMissing, startPostgres } from "../../support/postgres.ts";
import { hasOpenssl, makeCerts } from "../../support/certs.ts";
import { runIatp, startIatpService, tempDir, waitForOk } from "../../helpers.ts";

Deno.test({
  name: "connectPostgres reaches a server at an IPv6 literal host, as it reaches " +
    "an IPv4 one",
  ignore: postgresMissing !== undefined,
  async fn() {
    const db = await startPostgres({ listen: "127.0.0.1,::1" });
    try {
      for (const hosts of [`[::1]:${db.port}`, `127.0.0.1:${db.port}`]) {
        const url = `postgres://iatp@${hosts}/postgres`;
        const pg = await connectPostgres({
          url,
          setting: "db",
          password: db.password,
          connectTimeoutSeconds: 2,
          targetSessionAttrs: "read-write",
          applicationName: "iatp-test",
        });
        try {
          await checkPostgres(pg, "db");
          const [r] = await pg.sql`SELECT inet_server_addr()::text AS addr`;
          assert.match(String(r.addr), hosts.startsWith("[") ? /^::1/ : /^127\.0\.0\.1/, hosts);
        } finally {
          await pg.close(0);
        }
      }
    } finally {
      await db.stop();
    }
  },
});

/** A server that answers the startup, then each query with the head of a 2 GiB message. */
function oversizedServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const msg = (type: string, body: number[]) => {
    const out = new Uint8Array(5 + body.length);
    out[0] = type.charCodeAt(0);
    new DataView(out.buffer).setUint32(1, body.length + 4);
    out.set(body, 5);
    return out;
  };
  const serve = async (conn: Deno.Conn) => {
    try {
      const buf = new Uint8Array(64 * 1024);
      await conn.read(buf); // the startup message
      await conn.write(msg("R", [0, 0, 0, 0])); // AuthenticationOk
      await conn.write(msg("K", [0, 0, 0, 1, 0, 0, 0, 2]));
      await conn.write(msg("Z", [73])); // ReadyForQuery, idle
      await conn.read(buf); // a query
      const head = new Uint8Array(5);
      head[0] = 68; // DataRow
      new DataView(head.buffer).setUint32(1, 0x7ffffff0);
      await conn.write(head);
      const junk = new Uint8Array(64 * 1024).fill(120);
      // Until the client ends the connection (64 MiB at most, the test's own bound).
      for (let i = 0; i < 1024; i++) await conn.write(junk);
    } catch {
      /* the client ended it */
    } finally {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const serving = (async () => {
    for await (const conn of listener) void serve(conn);
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await serving;
    },
  };
}

Deno.test(
  "a server message longer than maxMessageBytes ends its connection: the query fails as an " +
    "outage naming the bound, and nothing is left unhandled",
  async () => {
    const server = oversizedServer();
    const pg = await connectPostgres({
      url: `postgres://iatp:s3cret@127.0.0.1:${server.port}/postgres`,
      setting: "db",
      connectTimeoutSeconds: 5,
      maxMessageBytes: 1024 * 1024,
      targetSessionAttrs: "read-write",
      applicationName: "iatp-test",
    });
    try {
      await assert.rejects(checkPostgres(pg, "db"), (e: Error) => {
        assert.match(e.message, /^db .*MESSAGE_TOO_LARGE: .* 2147483632 bytes, above the 1048576/);
        assert.ok(isPostgresOutage(e.cause), "not an outage");
        assert.doesNotMatch(e.message, /s3cret/);
        return true;
      });
    } finally {
      await pg.close(0);
      await server.close();
    }
  },
);

Deno.test({
  name: "audit with sslmode=verify-full trusts a private CA given by DENO_CERT and refuses the " +
    "server without it; sslmode=require refuses a server without TLS",
  ignore: postgresMissing !== undefined || !hasOpenssl,
}, async () => {
  const dir = await tempDir();
  await makeCerts(dir.path);
  const tlsDb = await startPostgres({
    tls: { cert: `${dir.path}/cert.pem`, key: `${dir.path}/key.pem` },
  });
  const plainDb = await startPostgres();
  await Deno.writeTextFile(`${dir.path}/pw`, tlsDb.password);
  const audit = (db: string, n: number) => [
    "audit",
    "--port",
    "0",
    "--db",
    db,
    "--db-password",
    `file:${dir.path}/pw`,
    "--key-file",
    `${dir.path}/audit-${n}.key`,
  ];
  const verifyFull = `postgres://iatp@127.0.0.1:${tlsDb.port}/postgres?sslmode=verify-full`;
  try {
    const trusted = await startIatpService(audit(verifyFull, 1), {
      env: { DENO_CERT: `${dir.path}/ca.pem` },
    });
    try {
      await waitForOk(`${trusted.url}/health`);
    } finally {
      await trusted.stop();
    }
    const untrusted = await runIatp(audit(verifyFull, 2), { timeoutMs: 30_000 });
    assert.equal(untrusted.code, 2, untrusted.stderr);
    assert.match(untrusted.stderr, /db .*sslmode=verify-full: .*(verify|certificate)/);
    const plain = await runIatp(
      audit(`postgres://iatp@127.0.0.1:${plainDb.port}/postgres?sslmode=require`, 3),
      { timeoutMs: 30_000 },
    );
    assert.equal(plain.code, 2, plain.stderr);
    assert.match(plain.stderr, /db .*sslmode=require: /);
    for (const r of [untrusted, plain]) assert.doesNotMatch(r.stdout + r.stderr, /pg-test-secret/);
  } finally {
    await tlsDb.stop();
    await plainDb.stop();
    await dir.remove();
  }
});

Deno.test({
  name: "audit with sslmode=verify-full and the CA trusted still refuses a certificate made for " +
    "another IP address or name than the URL's host",
  ignore: postgresMissing !== undefined || !hasOpenssl,
}, async () => {
  for (const [san, host] of [["IP:127.0.0.2", "127.0.0.1"], ["DNS:other.test", "127.0.0.1"]]) {
    const dir = await tempDir();
    await makeCerts(dir.path, san);
    const db = await startPostgres({
      tls: { cert: `${dir.path}/cert.pem`, key: `${dir.path}/key.pem` },
    });
    try {
      await Deno.writeTextFile(`${dir.path}/pw`, db.password);
      const r = await runIatp([
        "audit",
        "--port",
        "0",
        "--db",
        `postgres://iatp@${host}:${db.port}/postgres?sslmode=verify-full`,
        "--db-password",
        `file:${dir.path}/pw`,
        "--key-file",
        `${dir.path}/audit.key`,
      ], { env: { DENO_CERT: `${dir.path}/ca.pem` }, timeoutMs: 30_000 });
      assert.equal(r.code, 2, `${san} for ${host}: ${r.stderr}`);
      assert.match(r.stderr, /db .*does not match certificate's altnames/, `${san} for ${host}`);
    } finally {
      await db.stop();
      await dir.remove();
    }
  }
});
