/** `iatp relay` as a real child process with its table permissions: config errors, SQLite restart. */
import assert from "node:assert/strict";
import { openSse, publish } from "../core/relay/relay_helpers.ts";
import { runIatp, startIatpService, tempDir } from "../helpers.ts";

Deno.test("bad relay config exits 2 naming the key, without a stack trace", async () => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [["--port", "abc"], {}, /config error: port \(flag --port\)/],
    [["--store", "redis:x"], {}, /config error: store \(flag --store\)/],
    [["--retention-events", "0"], {}, /retention_events/],
    [[], { IATP_RELAY_TOKENS: "not json" }, /config error: tokens \(env IATP_RELAY_TOKENS\)/],
    [[], { IATP_RELAY_TOKENS: '{"short":["publish:*"]}' }, /tokens/],
    [[], { IATP_RELAY_TOKENS: '{"long-enough":["admin:*"]}' }, /tokens/],
    [["--store", "sqlite:/proc/nope/relay.db"], {}, /config error: store/],
    [["--queue-bytes", "64KiB", "--max-payload-bytes", "64KiB"], {}, /config error: queue_bytes/],
    [["--backlog-bytes", "512KiB"], {}, /config error: backlog_bytes \(flag --backlog-bytes\)/],
    [
      ["--queue-bytes-total", "512KiB"],
      {},
      /config error: queue_bytes_total \(flag --queue-bytes-total\)/,
    ],
  ];
  for (const [args, env, want] of cases) {
    const r = await runIatp(["relay", "--port", "0", ...args], { env });
    assert.equal(r.code, 2, `${args} ${JSON.stringify(env)}: ${r.stderr}`);
    assert.match(r.stderr, want);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});

Deno.test("relay --help lists its flags", async () => {
  const r = await runIatp(["relay", "--help"]);
  assert.equal(r.code, 0);
  for (const flag of ["--store", "--retention-events", "--queue-bytes", "--cors-origins"]) {
    assert.ok(r.stdout.includes(flag), flag);
  }
});

Deno.test("the relay serves from one isolate unless --workers asks for more", async () => {
  const shown = await runIatp(["config", "show", "relay"]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^workers\s+1\s+# built-in default$/m);
  const dir = await tempDir();
  const relay = await startIatpService(["relay", "--port", "0"], {
    env: { IATP_DATA_DIR: dir.path },
  });
  try {
    await publish(relay.url, "t", { n: 1 });
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /iatp_worker_http_requests_total/, "no per-isolate totals");
    const pid = relay.process.pid;
    const threads = [...Deno.readDirSync(`/proc/${pid}/task`)].map((t) =>
      Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/comm`).trim()
    );
    // A worker isolate's thread is named `worker-<n>`.
    assert.ok(!threads.some((t) => /^worker-\d+$/.test(t)), threads.join(","));
  } finally {
    await relay.stop("SIGTERM");
    await dir.remove();
  }
});

Deno.test("the launched relay keeps SQLite history in the data dir across a restart", async () => {
  const dir = await tempDir();
  const env = { IATP_DATA_DIR: dir.path, IATP_RELAY_STORE: `sqlite:${dir.path}/relay.db` };
  try {
    let relay = await startIatpService(["relay", "--port", "0"], { env });
    let firstId: string;
    try {
      firstId = String((await publish(relay.url, "t", { n: 1 })).body.id);
      await publish(relay.url, "t", { n: 2 });
    } finally {
      const status = await relay.stop("SIGTERM");
      assert.equal(status.code, 0, relay.stderr());
    }
    relay = await startIatpService(["relay", "--port", "0"], { env });
    try {
      await publish(relay.url, "t", { n: 3 });
      const s = await openSse(relay.url, "topic=t", { "last-event-id": firstId });
      await s.until((e) => e.filter((x) => x.event === "message").length === 2);
      assert.deepEqual(s.messages().map((m) => m.json.seq), [2, 3]);
      assert.ok(!s.events.some((e) => e.event === "reset"));
      await s.close();
    } finally {
      await relay.stop("SIGTERM");
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("SIGHUP stops the relay as SIGTERM does, a stream open: it drains, logs stopped and exits 0", async () => {
  const dir = await tempDir();
  const relay = await startIatpService(["relay", "--port", "0"], {
    env: { IATP_DATA_DIR: dir.path },
  });
  try {
    const s = await openSse(relay.url, "topic=t");
    await publish(relay.url, "t", { n: 1 });
    await s.until((e) => e.some((x) => x.event === "message"));
    const status = await relay.stop("SIGHUP");
    assert.equal(status.signal, null, relay.stderr());
    assert.equal(status.code, 0, relay.stderr());
    assert.match(relay.stdout(), /"msg":"shutting down"[^\n]*\n(.*\n)*.*"msg":"stopped"/);
    await s.close();
  } finally {
    await relay.stop("SIGKILL");
    await dir.remove();
  }
});

Deno.test("relay tokens are 8 characters or more, not 8 UTF-16 units", async () => {
  const dir = await tempDir();
  try {
    const cases: Array<[string, string]> = [
      // Four emoji: eight UTF-16 units but four characters.
      ["emoji.yaml", 'tokens: {"\u{1F600}\u{1F600}\u{1F600}\u{1F600}": ["publish:*"]}\n'],
    ];
    for (const [name, text] of cases) {
      const file = `${dir.path}/${name}`;
      await Deno.writeTextFile(file, text);
      // `config check` parses exactly as the relay does at start, and exits either way.
      const r = await runIatp(["config", "check", "relay", file]);
      assert.equal(r.code, 2, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /config error: tokens \(/, name);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("relay tokens must be a mapping: a YAML 1.1 set, ordered map or date is refused", async () => {
  const dir = await tempDir();
  try {
    // YAML 1.1 tags make a Set, a Map or a Date of the value: none is a token table.
    const cases: Array<[string, string]> = [
      ["set.yaml", "%YAML 1.1\n---\ntokens: !!set {long-enough-token}\n"],
      ["omap.yaml", "%YAML 1.1\n---\ntokens: !!omap [{long-enough-token: [publish:*]}]\n"],
      ["date.yaml", "%YAML 1.1\n---\ntokens: 2001-12-14\n"],
    ];
    for (const [name, text] of cases) {
      const file = `${dir.path}/${name}`;
      await Deno.writeTextFile(file, text);
      const r = await runIatp(["config", "check", "relay", file]);
      assert.equal(r.code, 2, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /config error: tokens \(/, name);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  } finally {
    await dir.remove();
  }
});
