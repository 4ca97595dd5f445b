/**
 * core/engine's PostgreSQL client on a real throwaway server: the hosts of the URL reach the
 * client as written, an IPv6 literal (`[::1]:PORT`) included.
 * @module
 */
import assert from "node:assert/strict";
import { checkPostgres, connectPostgres } from "../../../core/engine/mod.ts";
import { postgresMissing, startPostgres } from "../../support/postgres.ts";

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
