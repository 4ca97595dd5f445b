/**
 * The naming scheme: one env var per setting derived from the command, upstream names read only
 * by the command that declares them, deprecated names that still work and warn (with their old
 * unit), secrets shown by size only, and the paths a command line names.
 */
import assert from "node:assert/strict";
import {
  defineConfig,
  duration,
  envPrefixOf,
  path,
  secretShape,
  str,
} from "../../../core/config/mod.ts";
import { ConfigError } from "../../../core/errors/mod.ts";
import { loaded } from "../../helpers.ts";

const spec = defineConfig({
  command: "compose-agent",
  summary: "a test command",
  fields: {
    agent_token: str({ help: "HMAC key, or file:PATH", secret: true, fileRef: true }),
    replay_ttl: duration({ help: "replay window", default: 600_000, min: 1000 }),
    db: path({ help: "a database", default: "/var/lib/x/db", access: "write", siblings: [".1"] }),
    manifest: path({ help: "a manifest", access: "read" }),
  },
  upstream: {
    system: "an upstream agent",
    env: { replay_ttl: { name: "REPLAY_TTL_SECS", unit: "s" } },
  },
  deprecated: {
    flags: { replay_ttl: { name: "replay-ttl-secs", unit: "s" } },
    keys: { replay_ttl: { name: "replay_ttl_secs", unit: "s" } },
  },
});

const env = (vars: Record<string, string>) => ({ env: (n: string) => vars[n] });

Deno.test("env names follow IATP_<COMMAND>_<KEY>", () => {
  assert.equal(envPrefixOf("compose-agent"), "IATP_COMPOSE_AGENT_");
  assert.equal(envPrefixOf("audit verify"), "IATP_AUDIT_VERIFY_");
  assert.deepEqual(spec.envNames(), [
    "IATP_COMPOSE_AGENT_CONFIG",
    "IATP_COMPOSE_AGENT_AGENT_TOKEN",
    "IATP_COMPOSE_AGENT_REPLAY_TTL",
    "IATP_COMPOSE_AGENT_DB",
    "IATP_COMPOSE_AGENT_MANIFEST",
    "REPLAY_TTL_SECS",
  ]);
});

Deno.test("upstream names are read after the own name, quietly, in their unit", async () => {
  const up = loaded(await spec.parse([], env({ REPLAY_TTL_SECS: "30" })));
  assert.equal(up.config.replay_ttl, 30_000);
  assert.deepEqual(up.sources.get("replay_ttl"), { kind: "env", name: "REPLAY_TTL_SECS" });
  assert.deepEqual(up.warnings, []);
  const own = loaded(
    await spec.parse([], env({ REPLAY_TTL_SECS: "30", IATP_COMPOSE_AGENT_REPLAY_TTL: "2m" })),
  );
  assert.equal(own.config.replay_ttl, 120_000);
});

Deno.test("deprecated flags and keys still work, in their old unit, and warn", async () => {
  const flag = loaded(await spec.parse(["--replay-ttl-secs", "40"], env({})));
  assert.equal(flag.config.replay_ttl, 40_000);
  assert.deepEqual(flag.warnings, [
    "flag --replay-ttl-secs is deprecated and will be removed; use --replay-ttl",
  ]);
  const file = loaded(
    await spec.parse(["--config", "c.yaml"], {
      env: () => undefined,
      readFile: () => "replay_ttl_secs: 50\n",
    }),
  );
  assert.equal(file.config.replay_ttl, 50_000);
  assert.match(file.warnings?.[0] ?? "", /config key replay_ttl_secs \(c\.yaml:1\) is deprecated/);
});

Deno.test("a refused secret is rendered (secret, N chars), counting characters", async () => {
  assert.equal(secretShape("abc"), "(secret, 3 chars)");
  assert.equal(secretShape("pässwörd"), "(secret, 8 chars)");
  const strict = defineConfig({
    command: "s",
    summary: "s",
    fields: { token: str({ help: "t", secret: true, minLength: 16 }) },
  });
  await assert.rejects(() => strict.parse(["--token", "short-secret"], env({})), (err) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.found, "(secret, 12 chars)");
    assert.ok(!err.message.includes("short-secret"));
    return true;
  });
});

Deno.test("grants: the config file, path settings with their access, file: credentials", async () => {
  const grants = await spec.grants(
    ["--config", "/etc/x.yaml", "--manifest", "/srv/m.yaml", "--agent-token", "file:/run/k"],
    { env: () => undefined, readFile: () => "db: /data/q.db\n" },
  );
  assert.deepEqual(grants, [
    { path: "/etc/x.yaml", access: "read" },
    { path: "/run/k", access: "read" },
    { path: "/data/q.db", access: "write" },
    { path: "/data/q.db.1", access: "write" },
    { path: "/srv/m.yaml", access: "read" },
  ]);
  assert.deepEqual(await spec.grants(["--no-such-flag"]), [], "a bad line names nothing");
});

Deno.test("grants: --help reads nothing, so it names nothing", async () => {
  const opts = { env: () => "file:/run/k", readFile: () => "db: /data/q.db\n" };
  assert.deepEqual(await spec.grants(["--help"], opts), []);
  assert.deepEqual(await spec.grants(["--config", "/etc/x.yaml", "-h"], opts), []);
});

Deno.test("a duration that must be positive does not offer 0 to turn it off", async () => {
  const err = await spec.parse(["--replay-ttl", "0"], env({})).then(
    () => assert.fail("0 accepted below min"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigError);
  assert.match(err.message, /replay_ttl/);
  assert.match(err.message, /at least 1s/);
  assert.doesNotMatch(err.message, /0 for none/);
});
