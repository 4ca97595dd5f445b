import assert from "node:assert/strict";
import {
  bool,
  bytes,
  defineConfig,
  duration,
  formatConfigError,
  host,
  int,
  list,
  MAX_AGE_MS,
  MAX_TIMER_MS,
  oneOf,
  path,
  port,
  section,
  str,
  url,
} from "../../../core/config/mod.ts";
import { ConfigError, UsageError } from "../../../core/errors/mod.ts";
import { scrubString } from "../../../core/log/mod.ts";
import { loaded } from "../../helpers.ts";

const spec = defineConfig({
  command: "demo",
  summary: "a demo service",
  fields: {
    port: port({ help: "listen port", default: 8005 }),
    name: str({ help: "service name", default: "demo" }),
    verbose: bool({ help: "talk more", default: false }),
    retention: oneOf(["ephemeral", "temporary", "permanent"] as const, {
      help: "retention",
      default: "temporary",
    }),
    timeout: duration({ help: "timeout", default: 30_000 }),
    max_body: bytes({ help: "body limit", default: 1024, min: 1 }),
    topics: list({ help: "topics", default: [] }),
    upstream: url({ help: "upstream", default: "http://localhost:8000" }),
    token: str({ help: "secret token", secret: true }),
    agent: section({
      id: str({ help: "agent id", default: "a1" }),
      concurrency: int({ help: "tasks", default: 10, min: 1, max: 100 }),
    }),
  },
  upstream: { system: "a demo upstream", env: { retention: "IATP_RETENTION" } },
});

function envOf(vars: Record<string, string>) {
  return (name: string) => vars[name];
}

function files(map: Record<string, string>) {
  return (path: string) => {
    if (!(path in map)) throw new Deno.errors.NotFound(`no such file: ${path}`);
    return map[path];
  };
}

async function configError(fn: () => unknown): Promise<ConfigError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("defaults apply when nothing else is given", async () => {
  const { config, sources } = loaded(await spec.parse([], { env: envOf({}) }));
  assert.equal(config.port, 8005);
  assert.equal(config.retention, "temporary");
  assert.equal(config.timeout, 30_000);
  assert.equal(config.agent.id, "a1");
  assert.equal(config.token, undefined);
  assert.deepEqual(sources.get("port"), { kind: "default" });
});

Deno.test("precedence: default < file < env < flag", async () => {
  const read = files({ "c.yaml": "port: 7000\nname: fromfile\nagent:\n  id: file-agent\n" });
  const fileOnly = loaded(
    await spec.parse(["--config", "c.yaml"], { env: envOf({}), readFile: read }),
  );
  assert.equal(fileOnly.config.port, 7000);
  assert.equal(fileOnly.config.agent.id, "file-agent");
  assert.deepEqual(fileOnly.sources.get("port"), { kind: "file", path: "c.yaml", line: 1 });

  const env = envOf({ IATP_DEMO_PORT: "7100", IATP_DEMO_AGENT_ID: "env-agent" });
  const withEnv = loaded(await spec.parse(["--config", "c.yaml"], { env, readFile: read }));
  assert.equal(withEnv.config.port, 7100);
  assert.equal(withEnv.config.name, "fromfile");
  assert.equal(withEnv.config.agent.id, "env-agent");

  const withFlag = loaded(
    await spec.parse(["--config", "c.yaml", "--port", "7200", "--agent-id", "flag"], {
      env,
      readFile: read,
    }),
  );
  assert.equal(withFlag.config.port, 7200);
  assert.equal(withFlag.config.agent.id, "flag");
  assert.deepEqual(withFlag.sources.get("port"), { kind: "flag", name: "port" });
});

Deno.test("the config file can come from the CONFIG env var", async () => {
  const r = loaded(
    await spec.parse([], {
      env: envOf({ IATP_DEMO_CONFIG: "x.yaml" }),
      readFile: files({ "x.yaml": "name: viaenv\n" }),
    }),
  );
  assert.equal(r.config.name, "viaenv");
});

Deno.test("typed coercion from strings: bool, duration, bytes, list, enum", async () => {
  const r = loaded(
    await spec.parse(
      ["--verbose", "--timeout", "1.5s", "--max-body", "64KiB", "--topics", "a,b", "--topics", "c"],
      { env: envOf({ IATP_RETENTION: "permanent" }) },
    ),
  );
  assert.equal(r.config.verbose, true);
  assert.equal(r.config.timeout, 1500);
  assert.equal(r.config.max_body, 65536);
  assert.deepEqual(r.config.topics, ["a", "b", "c"]);
  assert.equal(r.config.retention, "permanent");
  const neg = loaded(
    await spec.parse(["--no-verbose"], { env: envOf({ IATP_DEMO_VERBOSE: "true" }) }),
  );
  assert.equal(neg.config.verbose, false);
  const fromEnv = loaded(await spec.parse([], { env: envOf({ IATP_DEMO_VERBOSE: "yes" }) }));
  assert.equal(fromEnv.config.verbose, true);
});

Deno.test("a section may be an alias of a mapping anchored elsewhere; its keys are still checked", async () => {
  const twin = defineConfig({
    command: "twin",
    summary: "two sections of one shape",
    fields: {
      primary: section({ url: str({ help: "url", default: "" }), tries: int({ help: "n" }) }),
      backup: section({ url: str({ help: "url", default: "" }), tries: int({ help: "n" }) }),
    },
  });
  const parse = async (text: string) =>
    loaded(
      await twin.parse(["--config", "c.yaml"], {
        env: envOf({}),
        readFile: files({ "c.yaml": text }),
      }),
    );
  const cfg = await parse("primary: &p\n  url: http://a\n  tries: 3\nbackup: *p\n");
  assert.deepEqual(cfg.config.backup, { url: "http://a", tries: 3 });
  const err = await configError(() =>
    parse("primary: &p\n  url: http://a\n  tires: 3\nbackup: *p\n")
  );
  assert.equal(err.key, "primary.tires");
  assert.match(err.expected, /did you mean "tries"/);
  const scalar = await configError(() => parse("x: &n 5\nprimary: {}\nbackup: *n\n"));
  assert.equal(scalar.key, "x");
  const list = await configError(() => parse("primary: {}\nbackup: &l [1]\n"));
  assert.equal(list.key, "backup");
  assert.equal(list.found, "a list");
});

Deno.test("missing config file names the file", async () => {
  const err = await configError(async () =>
    loaded(await spec.parse(["--config", "missing.yaml"], { env: envOf({}), readFile: files({}) }))
  );
  assert.equal(err.key, "config");
  assert.match(formatConfigError("demo", err), /missing\.yaml/);
  assert.match(err.found, /no such file/);
});

Deno.test("a file that is not YAML is an error with its line", async () => {
  const err = await configError(async () =>
    loaded(
      await spec.parse(["--config", "bad.yaml"], {
        env: envOf({}),
        readFile: files({ "bad.yaml": "port: 1\nname: [unclosed\n" }),
      }),
    )
  );
  assert.equal(err.expected, "valid YAML");
  assert.equal(err.source.kind, "file");
  assert.ok(err.source.kind === "file" && err.source.line !== undefined);
});

Deno.test("a YAML document that is not a mapping is an error", async () => {
  const err = await configError(async () =>
    loaded(
      await spec.parse(["--config", "l.yaml"], {
        env: envOf({}),
        readFile: files({ "l.yaml": "- 1\n" }),
      }),
    )
  );
  assert.match(err.expected, /mapping/);
});

Deno.test('port: "abc" names the key, its line and the expected type', async () => {
  const err = await configError(async () =>
    loaded(
      await spec.parse(["--config", "p.yaml"], {
        env: envOf({}),
        readFile: files({ "p.yaml": 'name: x\nport: "abc"\n' }),
      }),
    )
  );
  assert.equal(err.key, "port");
  assert.deepEqual(err.source, { kind: "file", path: "p.yaml", line: 2 });
  assert.match(err.expected, /integer from 0 to 65535/);
  assert.match(err.found, /"abc"/);
  assert.equal(
    formatConfigError("demo", err),
    'iatp demo: config error: port (p.yaml:2): expected an integer from 0 to 65535, found string "abc"',
  );
});

Deno.test("a key or file name holding control characters is printed escaped, on one line", async () => {
  const key = "po\u001b[2K\u001b[1Grt\nport: ok\u202e\u200b";
  const file = "u\u009b2J\n.yaml";
  const err = await configError(async () =>
    loaded(
      await spec.parse(["--config", file], {
        env: envOf({}),
        readFile: files({ [file]: `${JSON.stringify(key)}: 1\n` }),
      }),
    )
  );
  assert.equal(err.key, key);
  const line = formatConfigError("demo", err);
  assert.doesNotMatch(line, /[\p{Cc}\p{Cf}]/u);
  assert.ok(
    line.startsWith(
      "iatp demo: config error: po\\u001b[2K\\u001b[1Grt\\u000aport: ok\\u202e\\u200b " +
        "(u\\u009b2J\\u000a.yaml:1): expected",
    ),
    line,
  );
});

Deno.test("unknown keys are errors, nested ones too, with their line", async () => {
  const top = await configError(async () =>
    loaded(
      await spec.parse(["--config", "u.yaml"], {
        env: envOf({}),
        readFile: files({ "u.yaml": "port: 1\nprot: 2\n" }),
      }),
    )
  );
  assert.equal(top.key, "prot");
  assert.deepEqual(top.source, { kind: "file", path: "u.yaml", line: 2 });
  const nested = await configError(async () =>
    loaded(
      await spec.parse(["--config", "n.yaml"], {
        env: envOf({}),
        readFile: files({ "n.yaml": "agent:\n  id: x\n  idd: y\n" }),
      }),
    )
  );
  assert.equal(nested.key, "agent.idd");
  assert.equal(nested.source.kind === "file" && nested.source.line, 3);
  const notMap = await configError(async () =>
    loaded(
      await spec.parse(["--config", "s.yaml"], {
        env: envOf({}),
        readFile: files({ "s.yaml": "agent: 5\n" }),
      }),
    )
  );
  assert.equal(notMap.key, "agent");
});

Deno.test("a bad env value names the env var", async () => {
  const err = await configError(async () =>
    loaded(await spec.parse([], { env: envOf({ IATP_RETENTION: "forever-ish" }) }))
  );
  assert.equal(err.key, "retention");
  assert.deepEqual(err.source, { kind: "env", name: "IATP_RETENTION" });
  assert.match(formatConfigError("demo", err), /env IATP_RETENTION/);
  assert.match(err.expected, /ephemeral\|temporary\|permanent/);
});

Deno.test("a bad flag value names the flag", async () => {
  const err = await configError(async () =>
    loaded(await spec.parse(["--timeout", "soon"], { env: envOf({}) }))
  );
  assert.deepEqual(err.source, { kind: "flag", name: "timeout" });
  assert.match(err.expected, /duration/);
  const range = await configError(async () =>
    loaded(await spec.parse(["--agent-concurrency", "0"], { env: envOf({}) }))
  );
  assert.match(range.expected, /from 1 to 100/);
  const badUrl = await configError(async () =>
    loaded(await spec.parse(["--upstream", "ftp://x"], { env: envOf({}) }))
  );
  assert.match(badUrl.expected, /http\(s\) URL/);
});

Deno.test("a list with a bad item names that item, whether given as a,b or as a repeated flag", async () => {
  const items = defineConfig({
    command: "demo",
    summary: "a demo service",
    fields: { services: list({ help: "services", default: [], item: /^(relay|policy)$/ }) },
  });
  for (
    const argv of [["--services", "relay,polcy"], ["--services", "relay", "--services", "polcy"]]
  ) {
    const err = await configError(async () => loaded(await items.parse(argv, { env: envOf({}) })));
    assert.equal(err.found, 'string "polcy" in a list ["relay","polcy"]', argv.join(" "));
  }
});

Deno.test("a bounded duration's error gives only examples the setting accepts", async () => {
  const bounded = defineConfig({
    command: "demo",
    summary: "a demo service",
    fields: {
      every: duration({ help: "period", default: 30_000, min: 1000, max: 86_400_000 }),
      window: duration({ help: "window", default: 7_200_000, min: 7_200_000, max: 10_800_000 }),
    },
  });
  const low = await configError(async () =>
    loaded(await bounded.parse(["--every", "5ms"], { env: envOf({}) }))
  );
  assert.match(low.expected, /such as 30s, 5m or 1h /);
  assert.doesNotMatch(low.expected, /500ms|7d/);
  assert.match(low.expected, /at least 1s, at most 24h/);
  const narrow = await configError(async () =>
    loaded(await bounded.parse(["--window", "1h"], { env: envOf({}) }))
  );
  assert.match(narrow.expected, /such as 2h /);
  // An unbounded duration keeps every example.
  const open = await configError(async () =>
    loaded(await spec.parse(["--timeout", "soon"], { env: envOf({}) }))
  );
  assert.match(open.expected, /such as 500ms, 30s, 5m, 1h or 7d/);
});

Deno.test("a duration is at most what a timer can wait unless it declares a longer bound", async () => {
  const timers = defineConfig({
    command: "demo",
    summary: "a demo service",
    fields: {
      every: duration({ help: "period", default: 5_000, min: 10 }),
      age: duration({ help: "retention age", default: 86_400_000, max: MAX_AGE_MS }),
    },
  });
  // 30 days is more than a timer waits (2^31 - 1 ms): it would fire after 1 ms.
  for (const argv of [["--every", "30d"], ["--every", "25d"], ["--every", "2147483648ms"]]) {
    const err = await configError(async () => loaded(await timers.parse(argv, { env: envOf({}) })));
    assert.equal(err.key, "every", argv.join(" "));
    assert.match(err.expected, /at least 10ms, at most 24d\)$/);
    assert.match(formatConfigError("demo", err), /every \(flag --every\): expected .*at most 24d/);
  }
  const fromEnv = await configError(async () =>
    loaded(await timers.parse([], { env: envOf({ IATP_DEMO_EVERY: "30d" }) }))
  );
  assert.equal(fromEnv.key, "every");
  assert.ok(MAX_TIMER_MS <= 2 ** 31 - 1);
  const longest = loaded(await timers.parse(["--every", "24d"], { env: envOf({}) }));
  assert.equal(longest.config.every, MAX_TIMER_MS);
  // An age compared with timestamps may be longer, up to its own bound.
  const aged = loaded(await timers.parse(["--age", "3650d"], { env: envOf({}) }));
  assert.equal(aged.config.age, 3650 * 86_400_000);
  const tooOld = await configError(async () =>
    loaded(await timers.parse(["--age", "99999999d"], { env: envOf({}) }))
  );
  assert.match(tooOld.expected, /at most 36500d\)$/);
});

Deno.test("a value starting with a dash is a usage error on one line that says how to give it", async () => {
  await assert.rejects(
    async () => loaded(await spec.parse(["--agent-concurrency", "-1"], { env: envOf({}) })),
    (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.doesNotMatch(err.message, /\n/);
      assert.match(err.message, /use '--agent-concurrency=-XYZ'/);
      return true;
    },
  );
});

Deno.test("unknown flags and stray positionals are usage errors carrying the usage", async () => {
  await assert.rejects(
    async () => loaded(await spec.parse(["--bogus"], { env: envOf({}) })),
    (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /bogus/);
      assert.match(err.usage ?? "", /Usage: iatp demo/);
      return true;
    },
  );
  await assert.rejects(
    async () => loaded(await spec.parse(["extra"], { env: envOf({}) })),
    UsageError,
  );
});

Deno.test("--help returns help without reading the file or env", async () => {
  const r = await spec.parse(["--help", "--config", "missing.yaml"], {
    env: () => {
      throw new Error("env must not be read");
    },
  });
  assert.equal(r.help, true);
});

Deno.test("usage lists every flag with its env var and default; secrets are hidden", () => {
  const text = spec.usage();
  for (
    const needle of [
      "--port N",
      "IATP_DEMO_PORT",
      "default 8005",
      "--[no-]verbose",
      "IATP_RETENTION",
      "--agent-id",
      "IATP_DEMO_AGENT_ID",
      "--config PATH",
      "IATP_DEMO_CONFIG",
    ]
  ) assert.ok(text.includes(needle), `usage lacks ${needle}:\n${text}`);
  assert.ok(text.includes("(secret)"));
  assert.ok(spec.envNames().includes("IATP_DEMO_AGENT_CONCURRENCY"));
});

Deno.test("secret values are registered with the log scrubber", async () => {
  const value = "s3cr3t-value-for-demo-test";
  loaded(await spec.parse([], { env: envOf({ IATP_DEMO_TOKEN: value }) }));
  assert.equal(scrubString(`token is ${value}!`), "token is [REDACTED]!");
});

Deno.test("resolve() validates in-process overrides", () => {
  const c = spec.resolve({ port: 0, agent: { concurrency: 3 } });
  assert.equal(c.port, 0);
  assert.equal(c.agent.concurrency, 3);
  assert.equal(c.agent.id, "a1");
  assert.throws(() => spec.resolve({ port: 70000 }), ConfigError);
});

Deno.test("check() hook rejects cross-field combinations", async () => {
  const strict = defineConfig({
    command: "strict",
    summary: "s",
    fields: {
      environment: oneOf(["dev", "prod"] as const, { help: "env", default: "dev" }),
      tls: bool({ help: "tls", default: false }),
    },
    check(config, sources) {
      if (config.environment === "prod" && !config.tls) {
        throw new ConfigError("tls", sources.get("tls")!, "true when environment is prod", "false");
      }
    },
  });
  await assert.rejects(
    () => strict.parse(["--environment", "prod"], { env: envOf({}) }),
    ConfigError,
  );
  assert.equal(
    loaded(await strict.parse(["--environment", "prod", "--tls"], { env: envOf({}) })).config.tls,
    true,
  );
});

Deno.test("string length bounds count characters, not UTF-16 units (an emoji is one)", async () => {
  const lengths = defineConfig({
    command: "len",
    summary: "length bounds",
    fields: { code: str({ help: "a code", minLength: 3, maxLength: 4 }) },
  });
  const parse = (value: string) => lengths.parse(["--code", value], { env: envOf({}) });
  // Two emoji are two characters (four UTF-16 units): below the minimum of 3.
  const short = await configError(() => parse("😀😀"));
  assert.equal(short.key, "code");
  assert.deepEqual(short.source, { kind: "flag", name: "code" });
  // Four emoji are four characters (eight units): within the maximum of 4.
  assert.equal(loaded(await parse("😀😀😀😀")).config.code, "😀😀😀😀");
  assert.equal(loaded(await parse("abc")).config.code, "abc");
  await configError(() => parse("abcde"));
});

Deno.test("YAML merge keys are read, and the keys they bring are checked and located", async () => {
  const twin = defineConfig({
    command: "twin",
    summary: "two sections of one shape",
    fields: {
      base: section({ url: str({ help: "url", default: "" }), tries: int({ help: "n" }) }),
      extra: section({ url: str({ help: "url", default: "" }), tries: int({ help: "n" }) }),
      primary: section({ url: str({ help: "url", default: "" }), tries: int({ help: "n" }) }),
    },
    expand: () => ({}),
  });
  const parse = async (text: string, env: Record<string, string> = {}) =>
    loaded(
      await twin.parse(["--config", "c.yaml"], {
        env: envOf(env),
        readFile: files({ "c.yaml": text }),
      }),
    );
  // One source; a key written beside the merge wins over the merged one.
  const one = await parse(
    "base: &b\n  url: http://a\n  tries: 3\nprimary:\n  <<: *b\n  tries: 5\n",
  );
  assert.deepEqual(one.config.primary, { url: "http://a", tries: 5 });
  // A list of sources: the earlier one wins.
  const many = await parse(
    "base: &b\n  url: http://a\n  tries: 3\nextra: &e\n  url: http://e\nprimary:\n  <<: [*e, *b]\n",
  );
  assert.deepEqual(many.config.primary, { url: "http://e", tries: 3 });
  // A merged key that is not known is refused where it is written, under the merging section.
  const unknown = await configError(() =>
    parse("base: &b\n  url: http://a\nprimary:\n  <<: [*b, { url: http://c,\n    tires: 3 }]\n")
  );
  assert.equal(unknown.key, "primary.tires");
  assert.match(unknown.expected, /did you mean "tries"/);
  assert.equal(unknown.source.kind === "file" && unknown.source.line, 5);
  // A bad merged value is located at the anchored line it came from.
  const bad = await configError(() =>
    parse("base: &b\n  url: http://a\nprimary:\n  <<: [*b, { url: http://c,\n    tries: many }]\n")
  );
  assert.equal(bad.key, "primary.tries");
  assert.equal(bad.source.kind === "file" && bad.source.line, 5);
  // A merge of something that is not a mapping is not YAML the loader can read.
  const scalar = await configError(() => parse("x: &n 5\nprimary:\n  <<: *n\n"));
  assert.equal(scalar.key, "config");
  // A variable in a value that several paths share is expanded once.
  const shared = await parse(
    "base: &b\n  url: ${U}\nprimary:\n  <<: *b\nextra: *b\n",
    { U: "http://x/${NOPE}" },
  );
  assert.equal(shared.config.base.url, "http://x/${NOPE}");
  assert.equal(shared.config.primary.url, "http://x/${NOPE}");
  assert.equal(shared.config.extra.url, "http://x/${NOPE}");
});

Deno.test("a YAML alias that does not resolve, or expands too far, is a config error", async () => {
  const bomb = [
    "a: &a [x, x, x, x, x, x, x, x, x, x]",
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
  ].join("\n");
  for (const text of ["port: *nowhere\n", bomb]) {
    const err = await configError(() =>
      spec.parse(["--config", "alias.yaml"], {
        env: envOf({}),
        readFile: files({ "alias.yaml": text }),
      })
    );
    assert.equal(err.key, "config");
    assert.equal(err.source.kind, "file");
    assert.equal(err.expected, "valid YAML");
  }
});

Deno.test("a refused URL value is shown without its user info (a password in a URL never shows)", async () => {
  const stores = defineConfig({
    command: "demo",
    summary: "a demo store",
    fields: {
      store: str({
        help: "store",
        default: "memory",
        pattern: /^(memory|sqlite:.+|nats:\/\/.+)$/,
        expected: "memory, sqlite:PATH or nats://HOST",
      }),
    },
  });
  for (
    const [value, shown] of [
      ["redis://:s3cret@cache:6379", /redis:\/\/\(user info not shown\)@cache:6379/],
      ["postgres://app:s3%40cret@db/iatp", /postgres:\/\/\(user info not shown\)@db\/iatp/],
      // An unencoded / in the password: the user info ends at the last @, not at the first /.
      ["postgres://app:12/s3cret@db/iatp", /postgres:\/\/\(user info not shown\)@db\/iatp/],
    ] as const
  ) {
    const err = await configError(async () =>
      loaded(await stores.parse(["--store", value], { env: envOf({}) }))
    );
    assert.equal(err.key, "store");
    assert.doesNotMatch(err.found, /s3/, value);
    assert.match(err.found, shown, value);
  }
  // A value with no URL user info is shown as it was.
  const plain = await configError(async () =>
    loaded(await stores.parse(["--store", "redis://cache:6379"], { env: envOf({}) }))
  );
  assert.equal(plain.found, 'string "redis://cache:6379"');
});

Deno.test("a listen host is a name or an address without a port: host:port is a config error naming it", async () => {
  const hosts = defineConfig({
    command: "hosts",
    summary: "listen host",
    fields: { host: host({ help: "address to listen on", default: "127.0.0.1" }) },
  });
  const parse = (value: string) => hosts.parse([`--host=${value}`], { env: envOf({}) });
  for (
    const ok of [
      "127.0.0.1",
      "0.0.0.0",
      "localhost",
      "node-1.example.com",
      "::",
      "::1",
      "[::1]",
      "fe80::1",
    ]
  ) {
    assert.equal(loaded(await parse(ok)).config.host, ok, ok);
  }
  for (const bad of ["0.0.0.0:5000", "localhost:8080", "bad host", "", "-x", "http://127.0.0.1"]) {
    const err = await configError(() => parse(bad));
    assert.equal(err.key, "host", bad);
    assert.match(err.message, /without a port/, bad);
  }
});

Deno.test("a path setting, a store or a file:PATH holding a control character, past PATH_MAX or NAME_MAX is a config error naming it", async () => {
  const files = defineConfig({
    command: "demo",
    summary: "paths",
    fields: {
      data: path({ help: "a file", access: "write", default: "x.db" }),
      store: str({
        help: "memory or sqlite:PATH",
        default: "memory",
        grants: (v) => v.startsWith("sqlite:") ? [{ path: v.slice(7), access: "write" }] : [],
      }),
      key: str({ help: "a key or file:PATH", secret: true, fileRef: true }),
    },
  });
  const long = `/tmp/${"d/".repeat(2100)}x.db`;
  const cases: [string[], string, RegExp][] = [
    [["--data", "/tmp/a\0b.db"], "data", /a path holding a NUL character \(\\u0000\)$/],
    [["--data", "/tmp/a.db\n"], "data", /a path holding the control character \\u000a$/],
    [["--store", "sqlite:/tmp/a\u001b[2K.db"], "store", /control character \\u001b$/],
    [["--key", "file:/run/k\r"], "key", /control character \\u000d$/],
    [["--data", long], "data", /a path of 4209 bytes$/],
    [["--data", `/tmp/${"\u00e9".repeat(128)}.db`], "data", /a name of 259 bytes \(/],
  ];
  for (const [argv, key, found] of cases) {
    const err = await configError(async () => loaded(await files.parse(argv, { env: envOf({}) })));
    assert.equal(err.key, key, argv.join(" "));
    assert.match(err.expected, /a path without NUL or other control characters, at most 4095/);
    assert.match(err.found, found);
    assert.doesNotMatch(formatConfigError("demo", err), /[\p{Cc}]/u);
  }
  // Spaces, quotes, a leading dash, .., characters beyond ASCII and a name of 255 bytes are paths.
  for (const ok of ["/tmp/a b/'q\"/-x/../caf\u00e9\u202e.db", `/tmp/${"n".repeat(255)}`]) {
    const { config } = loaded(await files.parse(["--data", ok], { env: envOf({}) }));
    assert.equal(config.data, ok);
  }
});

Deno.test("keys are matched as spelled: another case, a dotted key or a key given twice is a config error", async () => {
  const cases: [string, string, RegExp][] = [
    ["Port: 1\n", "Port", /did you mean "port"/],
    ["agent.id: x\n", "agent.id", /a known key/],
    ["agent:\n  ID: x\n", "agent.ID", /did you mean "id"/],
    ["port: 1\nport: 2\n", "config", /valid YAML/],
  ];
  for (const [text, key, expected] of cases) {
    const err = await configError(async () =>
      loaded(
        await spec.parse(["--config", "k.yaml"], {
          env: envOf({}),
          readFile: files({ "k.yaml": text }),
        }),
      )
    );
    assert.equal(err.key, key, text);
    assert.match(err.expected, expected, text);
  }
});
