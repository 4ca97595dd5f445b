/**
 * core/engine without a server: URLs shown without their secrets, URL settings refused with a
 * ConfigError naming the setting (never the password), and which errors count as an outage.
 */
import assert from "node:assert/strict";
import {
  connectPostgres,
  connectRedis,
  isPostgresOutage,
  isPostgresUrl,
  redactUrl,
} from "../../../core/engine/mod.ts";
import { ConfigError } from "../../../core/errors/mod.ts";

Deno.test("redactUrl drops the password and secret parameters, and hides what does not parse", () => {
  assert.equal(redactUrl("postgres://app:s3cret@db:5432/iatp"), "postgres://app@db:5432/iatp");
  assert.equal(redactUrl("redis://:s3cret@cache:6379/2"), "redis://cache:6379/2");
  assert.equal(
    redactUrl("postgres://app@db/iatp?password=s3cret&sslmode=require"),
    "postgres://app@db/iatp?password=redacted&sslmode=require",
  );
  assert.equal(redactUrl("postgres://app:s3cret@[bad"), "postgres://(unparsable URL)");
  assert.equal(redactUrl("s3cret"), "(unparsable URL)");
});

Deno.test("isPostgresUrl tells a server URL from a file path", () => {
  assert.ok(isPostgresUrl("postgres://app@db/iatp"));
  assert.ok(isPostgresUrl("postgresql://app@db/iatp"));
  assert.ok(!isPostgresUrl("data/audit.db"));
  assert.ok(!isPostgresUrl("/var/lib/postgres://x.db"));
});

Deno.test("connectPostgres refuses an unusable URL naming the setting, never the password", async () => {
  for (
    const [url, why] of [
      ["postgres://db/iatp", /no user/],
      ["postgres://app:s3cret@db", /no database/],
      ["mysql://app:s3cret@db/iatp", /not postgres/],
      ["postgres://app:s3cret@db/iatp?sslmode=sometimes", /unknown sslmode/],
    ] as const
  ) {
    await assert.rejects(
      () =>
        connectPostgres({
          url,
          setting: "db",
          targetSessionAttrs: "read-write",
          applicationName: "t",
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.key, "db");
        assert.match(err.message, why);
        assert.doesNotMatch(err.message, /s3cret/);
        return true;
      },
    );
  }
});

Deno.test("connectRedis refuses an unusable URL naming the setting, never the password", async () => {
  for (
    const [url, why] of [
      ["http://:s3cret@cache:6379", /not redis/],
      ["redis://:s3cret@cache:6379/x", /database is not a number/],
      ["redis://:s3cret@[bad", /a redis:\/\/ URL/],
    ] as const
  ) {
    await assert.rejects(
      connectRedis({ url, setting: "recorder_url", clientName: "t" }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.key, "recorder_url");
        assert.match(err.message, why);
        assert.doesNotMatch(err.message, /s3cret/);
        return true;
      },
    );
  }
});

Deno.test("isPostgresOutage: connection and shutdown errors count, a bad query does not", () => {
  const err = (code: string) => Object.assign(new Error(code), { code });
  for (const code of ["ECONNREFUSED", "CONNECTION_CLOSED", "08006", "57P01", "53300", "25006"]) {
    assert.ok(isPostgresOutage(err(code)), code);
  }
  for (const code of ["42P01", "23505", "22P02"]) assert.ok(!isPostgresOutage(err(code)), code);
  assert.ok(!isPostgresOutage(new Error("no code")));
  assert.ok(!isPostgresOutage(undefined));
});
