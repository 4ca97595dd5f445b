/**
 * core/engine without a server: URLs shown without their secrets, URL settings refused with a
 * ConfigError naming the setting (never the password), a client package that cannot load
 * reported the same way, and which errors count as an outage.
 */
import assert from "node:assert/strict";
import {
  connectPostgres,
  connectRedis,
  isPostgresOutage,
  isPostgresUrl,
  redactUrl,
} from "../../../core/engine/mod.ts";
import { loadDriver } from "../../../core/engine/driver.ts";
import { ConfigError } from "../../../core/errors/mod.ts";
import { ROOT } from "../../helpers.ts";

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

Deno.test("redactUrl shows no URL whose password the URL parser did not read as one", () => {
  // A password with an unencoded / ? or # after digits parses as a port, then a path, a query
  // or a fragment: its remainder would be shown. So would a URL without its `//`.
  for (
    const url of [
      "postgres://app:1234#s3cret@db/iatp",
      "postgres://app:1234?s3cret@db/iatp",
      "postgres://app:1234/s3cret@db/iatp",
      "postgresql://app:12@x/s3cret@db/iatp",
      "rediss://app:99/s3cret@cache/0",
      "redis://cache:6379/0#s3cret@x",
      "postgres:app:s3cret@db/iatp",
      // After letters, the port does not parse: told the same way, so the fix is named.
      "postgres://app:Ab3/s3cret@db/iatp",
      "postgres://app:pw?s3cret@db/iatp",
      "redis://app:pw#s3cret@cache/0",
    ]
  ) {
    const shown = redactUrl(url);
    assert.doesNotMatch(shown, /s3cret/, url);
    assert.match(shown, /^(postgres|postgresql|redis|rediss):\/\/\(URL not shown: /, url);
    if (url.includes("//")) assert.match(shown, /percent-encode/, url);
  }
  // An @ in the authority only: the URL is shown without its password as before.
  assert.equal(redactUrl("postgres://app:p%40ss@db/iatp?x=1"), "postgres://app@db/iatp?x=1");
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
      ["postgres://app:1234/s3cret@db/iatp", /no user/],
      ["postgres:app:s3cret@db/iatp", /no user/],
      // A `%` not followed by two hex digits: a ConfigError, not a URIError.
      ["postgres://app:s3cr%et@db/iatp", /password is not percent-encoded/],
      ["postgres://app:s3%E0%A4cret@db/iatp", /password is not percent-encoded/],
      ["postgres://s3cr%et:pw@db/iatp", /user is not percent-encoded/],
      ["postgres://app:s3cret@db/ia%tp", /database is not percent-encoded/],
      ["postgres://app:s3cret@d%b/iatp", /a postgres:\/\/ URL|host is not percent-encoded/],
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
      ["rediss://app:99/s3cret@cache/0", /database is not a number/],
      ["redis://:s3cr%et@cache:6379", /password is not percent-encoded/],
      ["redis://s3cr%et:pw@cache:6379", /user is not percent-encoded/],
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

Deno.test("loadDriver: a client module that cannot load is a ConfigError naming the setting", async () => {
  // Deno keeps a failed import failed for the process: the second attempt is reported the same.
  for (let i = 0; i < 2; i++) {
    await assert.rejects(
      loadDriver("./no_such_driver.ts", "store", { kind: "default" }, "redis://cache:6379"),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.key, "store");
        assert.match(err.message, /core\/engine\/no_such_driver\.ts.*redis:\/\/cache:6379/);
        return true;
      },
    );
  }
  const { default: postgres } = await loadDriver<
    typeof import("../../../core/engine/postgres_driver.ts")
  >("./postgres_driver.ts", "db", { kind: "default" }, "postgres://app@db/iatp");
  assert.equal(typeof postgres, "function");
});

/** What connectPostgres and connectRedis do in a process that may read nothing of core/. */
async function withoutReadAccess(): Promise<Record<string, string>> {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      file,
      `import { connectPostgres, connectRedis } from "${ROOT}core/engine/mod.ts";
      const out: Record<string, string> = {};
      const attempt = async (name: string, connect: () => Promise<{ close(): Promise<void> }>) => {
        try {
          await (await connect()).close();
          out[name] = "connected";
        } catch (e) {
          out[name] = e instanceof Error ? e.name + ": " + e.message : String(e);
        }
      };
      await attempt("postgres", () =>
        connectPostgres({
          url: "postgres://app:s3cret@127.0.0.1:1/iatp",
          setting: "db",
          targetSessionAttrs: "read-write",
          applicationName: "t",
        }));
      await attempt("redis", () =>
        connectRedis({ url: "redis://:s3cret@127.0.0.1:1", setting: "recorder_url", clientName: "t" }));
      console.log(JSON.stringify(out));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--quiet",
        `--config=${ROOT}deno.json`,
        "--allow-env=PGAPPNAME,REDIS_DEBUG_MAINTENANCE,REDIS_EMIT_DIAGNOSTICS",
        "--allow-net=127.0.0.1",
        file,
      ],
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("the database clients load with the first connection, not with the process", async () => {
  // The child's start graph is read without a permission check; a module imported later needs
  // read access. Without it, each client's module fails to load, and the connection says so
  // naming its setting: neither client was part of the graph Deno built at start.
  const out = await withoutReadAccess();
  assert.match(out.postgres, /^ConfigError: db \(built-in default\): .*postgres_driver\.ts/);
  assert.match(out.redis, /^ConfigError: recorder_url \(built-in default\): .*redis_driver\.ts/);
  assert.match(out.postgres, /the client did not load: .*read access/);
  assert.doesNotMatch(JSON.stringify(out), /s3cret/);
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
