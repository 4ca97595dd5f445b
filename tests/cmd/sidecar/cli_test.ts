import assert from "node:assert/strict";
import { sidecarSpec } from "../../../cmd/sidecar/config.ts";
import { ConfigError } from "../../../core/errors/mod.ts";
import { freePort, loaded, runIatp, startIatpService, tempDir, waitFor } from "../../helpers.ts";
import { post, startAgent } from "./fixtures.ts";

Deno.test("an invalid enum env value is a startup error naming the variable (exit 2)", async () => {
  const r = await runIatp(["sidecar", "--port", "0"], { env: { IATP_RETENTION: "sometimes" } });
  assert.equal(r.code, 2, r.stderr + r.stdout);
  assert.match(r.stderr, /IATP_RETENTION/);
  assert.match(r.stderr, /ephemeral\|temporary\|permanent\|forever/);
  assert.ok(!r.stderr.includes("    at "), "no stack trace");
  const t = await runIatp(["sidecar", "--port", "0"], { env: { IATP_TRUST_LEVEL: "root" } });
  assert.equal(t.code, 2);
  assert.match(t.stderr, /IATP_TRUST_LEVEL/);
});

Deno.test("--help lists the upstream env names and the verify sub-verb", async () => {
  const r = await runIatp(["sidecar", "--help"]);
  assert.equal(r.code, 0, r.stderr);
  for (
    const name of [
      "IATP_AGENT_URL",
      "IATP_PORT",
      "IATP_OVERRIDE_TOKEN",
      "IATP_SIDECAR_RECORDER_FILE",
      "verify-attestation",
    ]
  ) {
    assert.ok(r.stdout.includes(name), name);
  }
});

Deno.test("env names and defaults follow the upstream sidecars", async () => {
  const env: Record<string, string> = {
    IATP_AGENT_URL: "http://agent:9000",
    IATP_PORT: "9001",
    IATP_AGENT_ID: "a7",
    IATP_TRUST_LEVEL: "trusted",
    IATP_REVERSIBILITY: "none",
    IATP_RETENTION: "forever",
    IATP_HUMAN_IN_LOOP: "true",
    IATP_TRAINING_CONSENT: "true",
    IATP_UPSTREAM_TIMEOUT_MS: "1500",
    IATP_MAX_BODY_BYTES: "2048",
    IATP_TRACE_CAPACITY: "50",
  };
  const c = loaded(await sidecarSpec.parse([], { env: (n) => env[n] })).config;
  assert.deepEqual(
    [
      c.agent_url,
      c.port,
      c.agent_id,
      c.trust_level,
      c.reversibility,
      c.retention,
      c.human_in_loop,
      c.training_consent,
      c.upstream_timeout,
      c.max_body_bytes,
      c.trace_capacity,
    ],
    ["http://agent:9000", 9001, "a7", "trusted", "none", "forever", true, true, 1500, 2048, 50],
  );
  const d = loaded(await sidecarSpec.parse([], { env: () => undefined })).config;
  assert.deepEqual(
    [
      d.agent_url,
      d.port,
      d.agent_id,
      d.trust_level,
      d.reversibility,
      d.retention,
      d.upstream_timeout,
      d.max_body_bytes,
    ],
    [
      "http://localhost:8000",
      8001,
      "default-agent",
      "standard",
      "partial",
      "temporary",
      30000,
      1048576,
    ],
  );
  await assert.rejects(
    async () =>
      loaded(await sidecarSpec.parse([], { env: (n) => (n === "IATP_PORT" ? "http" : undefined) })),
    ConfigError,
  );
});

Deno.test("--manifest file fills the manifest; flags and env still win; errors name key and line", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir.path}/manifest.yaml`;
    await Deno.writeTextFile(
      path,
      [
        "identity:",
        "  agent_id: bank-agent",
        "  owner: ops@example.com",
        "trust_level: verified_partner",
        "capabilities: { idempotency: false, concurrency_limit: 8, sla_latency_ms: 150 }",
        "reversibility: { level: full, undo_window_seconds: 60, compensation_method: refund }",
        "privacy: { retention_policy: ephemeral, human_in_loop: false, training_consent: false }",
        "scopes: [payments:read, payments:refund]",
      ].join("\n"),
    );
    const env: Record<string, string> = { IATP_MANIFEST: path, IATP_TRUST_LEVEL: "standard" };
    const c = loaded(
      await sidecarSpec.parse(["--concurrency-limit", "9"], {
        env: (n) => env[n],
      }),
    ).config;
    assert.equal(c.agent_id, "bank-agent");
    assert.equal(c.owner, "ops@example.com");
    assert.equal(c.trust_level, "standard", "env beats the manifest file");
    assert.equal(c.concurrency_limit, 9, "a flag beats the manifest file");
    assert.equal(c.sla_latency_ms, 150);
    assert.equal(c.idempotency, false);
    assert.equal(c.compensation_method, "refund");
    assert.equal(c.retention, "ephemeral");
    assert.deepEqual(c.scopes, ["payments:read", "payments:refund"]);
    await Deno.writeTextFile(
      path,
      "identity:\n  agent_id: x\nprivacy:\n  retention_policy: sometimes\n",
    );
    await assert.rejects(
      async () => loaded(await sidecarSpec.parse([], { env: (n) => env[n] })),
      (e: unknown) =>
        e instanceof ConfigError && e.key === "manifest.privacy.retention_policy" &&
        /:4/.test(e.message),
    );
    // YAML merge keys are read (an anchored mapping merged in, keys written beside it winning).
    await Deno.writeTextFile(
      path,
      [
        "identity: { agent_id: x }",
        "capabilities: &caps { idempotency: true, concurrency_limit: 8, sla_latency_ms: 150 }",
        "privacy:",
        "  <<: { retention_policy: permanent, human_in_loop: true }",
        "  retention_policy: temporary",
      ].join("\n"),
    );
    const merged = loaded(await sidecarSpec.parse([], { env: (n) => env[n] })).config;
    assert.equal(merged.retention, "temporary");
    assert.equal(merged.human_in_loop, true);
    await Deno.writeTextFile(path, "identity: { agent_id: x }\nprivacy:\n  <<: { bogus: 1 }\n");
    await assert.rejects(
      async () => loaded(await sidecarSpec.parse([], { env: (n) => env[n] })),
      /manifest\.privacy/,
    );
    await Deno.writeTextFile(path, "bogus: 1\n");
    await assert.rejects(
      async () => loaded(await sidecarSpec.parse([], { env: (n) => env[n] })),
      (e) =>
        e instanceof ConfigError && e.key === "manifest.bogus" &&
        e.found === 'unknown key "bogus"' &&
        /^one of the known keys \(.*identity.*\)$/.test(e.expected),
    );
    // A typo names the key it resembles, as in a config file.
    await Deno.writeTextFile(path, "identity: { agent_id: x, ownr: me }\n");
    await assert.rejects(
      async () => loaded(await sidecarSpec.parse([], { env: (n) => env[n] })),
      (e) =>
        e instanceof ConfigError && e.key === "manifest.identity.ownr" &&
        e.expected === 'a known key (did you mean "owner"?)',
    );
  } finally {
    await dir.remove();
  }
});

Deno.test("--manifest takes the Python flat shape, its defaults, and refuses two shapes that disagree", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir.path}/agent.json`;
    const env: Record<string, string> = { IATP_MANIFEST: path };
    const parse = async () => loaded(await sidecarSpec.parse([], { env: (n) => env[n] })).config;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        agent_id: "coder",
        agent_version: "1.0.0",
        trust_level: "trusted",
        scopes: ["repo:read"],
        capabilities: { reversibility: "full", idempotency: true, undo_window: "24h" },
        privacy_contract: { retention: "ephemeral", storage_location: "us-west" },
      }),
    );
    const c = await parse();
    assert.equal(c.agent_id, "coder");
    assert.equal(c.agent_version, "1.0.0");
    assert.equal(c.reversibility, "full");
    assert.equal(c.undo_window_seconds, 86_400);
    assert.equal(c.storage_location, "us-west");
    assert.equal(c.human_in_loop, false);
    assert.equal(c.encryption_at_rest, true, "the Python model's default for a flat file");
    assert.equal(c.encryption_in_transit, true);
    await Deno.writeTextFile(
      path,
      JSON.stringify({ agent_id: "x", privacy_contract: { retention: "temporary" } }),
    );
    assert.equal((await parse()).reversibility, "none", "the Python model's default");
    assert.equal((await parse()).idempotency, false);
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        agent_id: "x",
        reversibility: { level: "full" },
        capabilities: { reversibility: "none" },
        privacy_contract: { retention: "temporary" },
      }),
    );
    await assert.rejects(parse, /manifest\.capabilities\.reversibility.*reversibility\.level/);
    await Deno.writeTextFile(
      path,
      JSON.stringify({ privacy_contract: { retention: "ephemeral" } }),
    );
    await assert.rejects(parse, /manifest\.agent_id/);
  } finally {
    await dir.remove();
  }
});

Deno.test("launcher-run sidecar: durable SQLite recorder survives a restart; verify-attestation", async () => {
  const dir = await tempDir();
  const agent = startAgent();
  const env = {
    IATP_DATA_DIR: dir.path,
    IATP_AGENT_URL: agent.url,
    IATP_RECORDER_FILE: `${dir.path}/trace.db`,
    IATP_SIGNING_KEY: btoa(String.fromCharCode(...new Uint8Array(32).fill(3))),
  };
  let sc = await startIatpService(["sidecar", "--port", "0"], { env });
  try {
    const r = await post(sc.url, { card: "4532015112830366" }, { "X-Agent-Trace-ID": "durable-1" });
    assert.equal(r.status, 200);
    const ok = await runIatp(["sidecar", "verify-attestation", sc.url]);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /"valid":true/);
    const wrongKey = await runIatp([
      "sidecar",
      "verify-attestation",
      `${sc.url}/.well-known/agent-attestation`,
      "--public-key",
      `ed25519:${btoa(String.fromCharCode(...new Uint8Array(32).fill(4)))}`,
    ]);
    assert.equal(wrongKey.code, 1, "a pinned key that did not sign it");
    await sc.stop();
    sc = await startIatpService(["sidecar", "--port", "0"], { env });
    const t = await (await fetch(`${sc.url}/trace/durable-1`)).json();
    assert.deepEqual(t.records.map((x: { type: string }) => x.type), ["request", "response"]);
    assert.ok(!JSON.stringify(t).includes("4532015112830366"));
    assert.ok(!sc.stdout().includes("4532015112830366"));
  } finally {
    await sc.stop();
    await agent.close();
    await dir.remove();
  }
});

Deno.test("verify-attestation fails (exit 1) on tampering or an unreachable URL, 2 on usage", async () => {
  const dir = await tempDir();
  const sc = await startIatpService(["sidecar", "--port", "0"], {
    env: { IATP_DATA_DIR: dir.path },
  });
  // A man in the middle serving the real manifest with an altered attestation.
  const real = sc.url;
  const mitm = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const res = await fetch(real + u.pathname);
    if (u.pathname.endsWith("agent-attestation")) {
      const att = await res.json();
      att.codebase_hash = "0".repeat(64);
      return Response.json(att);
    }
    return new Response(await res.text(), { headers: res.headers });
  });
  try {
    const bad = await runIatp([
      "sidecar",
      "verify-attestation",
      `http://127.0.0.1:${mitm.addr.port}`,
    ]);
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(bad.stderr, /signature does not verify/);
    const gone = await runIatp([
      "sidecar",
      "verify-attestation",
      "http://127.0.0.1:9/",
      "--timeout",
      "2s",
    ]);
    assert.equal(gone.code, 1);
    const usage = await runIatp(["sidecar", "verify-attestation"]);
    assert.equal(usage.code, 2);
  } finally {
    await mitm.shutdown();
    await sc.stop();
    await dir.remove();
  }
});

Deno.test("a manifest file with an alias to no anchor is a config error naming it (exit 2)", async () => {
  const dir = await tempDir();
  try {
    const path = `${dir.path}/manifest.yaml`;
    await Deno.writeTextFile(path, "identity:\n  agent_id: *nowhere\n");
    const r = await runIatp(["sidecar", "--port", "0", "--manifest", path]);
    assert.equal(r.code, 2, r.stderr + r.stdout);
    assert.match(r.stderr, /config error: manifest \(/);
    assert.ok(!r.stderr.includes("    at "), "no stack trace");
  } finally {
    await dir.remove();
  }
});

Deno.test("a recorder file in a missing folder, or a folder, is a config error naming it (exit 2)", async () => {
  const dir = await tempDir("iatp recorder ");
  try {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [
        ["--recorder-file", `${dir.path}/no such/rec.db`],
        {},
        /config error: recorder_file \(flag --recorder-file\): expected a file in a folder that exists/,
      ],
      [
        [],
        { IATP_SIDECAR_RECORDER_FILE: `${dir.path}/gone/rec.jsonl` },
        /config error: recorder_file \(env IATP_SIDECAR_RECORDER_FILE\): expected a file in a folder/,
      ],
      [["--recorder-file", dir.path], {}, /recorder_file .*expected a file, not a folder/],
    ];
    for (const [args, env, want] of cases) {
      const r = await runIatp(["sidecar", "--port", "0", ...args], { env });
      assert.equal(r.code, 2, r.stderr + r.stdout);
      assert.match(r.stderr, want);
      assert.ok(!r.stderr.includes("    at "), "no stack trace");
    }
    assert.deepEqual([...Deno.readDirSync(dir.path)], [], "nothing was created");
  } finally {
    await dir.remove();
  }
});

Deno.test("a recorder file that is a pipe or a device is a config error naming it (exit 2)", async () => {
  // A pipe nobody reads held the sidecar once its buffer filled (its writes are synchronous); a
  // device kept no record.
  const dir = await tempDir();
  try {
    const fifo = `${dir.path}/rec.jsonl`;
    const fifoDb = `${dir.path}/rec.db`;
    for (const p of [fifo, fifoDb]) {
      const made = await new Deno.Command("mkfifo", { args: [p] }).output();
      assert.ok(made.success);
    }
    for (const file of [fifo, fifoDb, "/dev/null"]) {
      // Without the check the sidecar starts and serves: it is stopped after the wait.
      const r = await runIatp(["sidecar", "--port", "0", "--recorder-file", file], {
        env: { IATP_DATA_DIR: dir.path },
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 2, r.stderr + r.stdout);
      assert.match(
        r.stderr,
        /config error: recorder_file \(flag --recorder-file\): expected a regular file, not a pipe \(FIFO\) or a device/,
      );
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("the Python sidecar's override token: its newline is not part of it, notices name it", async () => {
  const agent = Deno.serve(
    { hostname: "127.0.0.1", port: freePort(), onListen() {} },
    () => Response.json({ ok: true }),
  );
  const secret = "Zk3pQ9xVw2Lm8Rt5Yb";
  const env = {
    IATP_AGENT_URL: `http://127.0.0.1:${agent.addr.port}`,
    IATP_TRUST_LEVEL: "unknown", // score 4: a request needs an override
  };
  // As a Kubernetes secret or an env file read from a file hands it over: with its newline.
  let sc = await startIatpService(["sidecar", "--port", String(freePort())], {
    env: { ...env, IATP_TRUSTED_USER_OVERRIDE_TOKEN: `${secret}\n` },
  });
  try {
    assert.equal((await post(sc.url, { a: 1 }, { "X-User-Override": secret })).status, 200);
    assert.equal((await post(sc.url, { a: 1 })).status, 449);
    await sc.stop();
    sc = await startIatpService(["sidecar", "--port", String(freePort())], {
      env: { ...env, IATP_TRUSTED_USER_OVERRIDE_TOKEN: "changeme", IATP_LEGACY_OVERRIDE: "true" },
    });
    const out = sc.stdout();
    assert.match(
      out,
      /override disabled: override_token \(env IATP_TRUSTED_USER_OVERRIDE_TOKEN\) is shorter/,
    );
    assert.match(out, /legacy_override \(env IATP_LEGACY_OVERRIDE\) is true: any caller/);
    await sc.stop();
    sc = await startIatpService(["sidecar", "--port", String(freePort())], { env });
    assert.match(sc.stdout(), /override_token is not set \(IATP_OVERRIDE_TOKEN, or the Python/);
  } finally {
    await sc.stop();
    await agent.shutdown();
  }
});

Deno.test("--manifest takes the Python sidecar's served manifest (nulls, attestation) and the schema's optional fields", async () => {
  const dir = await tempDir();
  // What the Python sidecar's /.well-known/agent-manifest answers: the model's dump, unset
  // optional fields as null, its attestation embedded.
  const served = {
    agent_id: "py-agent",
    agent_version: null,
    trust_level: "trusted",
    capabilities: {
      idempotency: true,
      reversibility: "full",
      undo_window: null,
      sla_latency: "1500ms",
      rate_limit: null,
    },
    privacy_contract: {
      retention: "ephemeral",
      storage_location: null,
      human_review: false,
      encryption_at_rest: true,
      encryption_in_transit: true,
    },
    scopes: [],
    attestation: {
      agent_id: "py-agent",
      codebase_hash: "ab",
      config_hash: "cd",
      signature: "ef",
      signing_key_id: "k1",
      timestamp: "2026-01-01T00:00:00Z",
      expires_at: null,
    },
  };
  // Valid against spec/schema/capability_manifest.json, with its optional members.
  const schema = [
    'protocol_version: "1.0"',
    "identity: {agent_id: schema-agent, owner: acme, contact: sec@acme.example}",
    "trust_level: standard",
    "capabilities: {idempotency: true, idempotency_duration_seconds: 60, sla_availability: 0.99}",
    "reversibility:",
    "  level: partial",
    "  undo_window_seconds: 600",
    "  compensation_endpoint: /compensate",
    "  undo_conditions: {until_state: shipped}",
    "privacy: {retention_policy: temporary, human_in_loop: false, training_consent: false," +
    " retention_duration_seconds: 86400}",
    "authentication: {methods: [api_key], required: true}",
    "rate_limiting: {requests_per_second: 10}",
    "",
  ].join("\n");
  await Deno.writeTextFile(`${dir.path}/served.json`, JSON.stringify(served));
  await Deno.writeTextFile(`${dir.path}/schema.yaml`, schema);
  try {
    for (
      const [file, agentId, unserved] of [
        ["served.json", "py-agent", "attestation"],
        [
          "schema.yaml",
          "schema-agent",
          "authentication, rate_limiting, capabilities.idempotency_duration_seconds, " +
          "capabilities.sla_availability, reversibility.compensation_endpoint, " +
          "reversibility.undo_conditions, privacy.retention_duration_seconds",
        ],
      ]
    ) {
      const sc = await startIatpService(
        ["sidecar", "--port", String(freePort()), "--manifest", `${dir.path}/${file}`],
        { env: { IATP_DATA_DIR: dir.path, IATP_AGENT_URL: "http://127.0.0.1:9" } },
      );
      try {
        const doc = await (await fetch(`${sc.url}/.well-known/agent-manifest`)).json();
        assert.equal(doc.agent_id, agentId);
        assert.ok(
          sc.stdout().includes(
            `manifest keys accepted but not served by iatp (${dir.path}/${file}): ${unserved}"`,
          ),
          sc.stdout(),
        );
        if (file === "served.json") {
          assert.equal(doc.capabilities.sla_latency_ms, 1500);
          assert.equal(doc.privacy.retention_policy, "ephemeral");
          assert.equal(doc.attestation, undefined, "another sidecar's attestation is not served");
        } else {
          assert.equal(doc.reversibility.undo_window_seconds, 600);
          assert.equal(doc.identity.owner, "acme");
        }
      } finally {
        await sc.stop();
      }
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("a GET route asked with a trailing slash is a 301 to it, as the upstream sidecars answer (health probes)", async () => {
  const dir = await tempDir();
  const sc = await startIatpService(["sidecar", "--port", String(freePort())], {
    env: { IATP_DATA_DIR: dir.path, IATP_AGENT_URL: "http://127.0.0.1:9" },
  });
  try {
    for (
      const [path, location] of [
        ["/health/", "/health"],
        ["/.well-known/agent-manifest/", "/.well-known/agent-manifest"],
        ["/capabilities/?pretty=1", "/capabilities?pretty=1"],
      ]
    ) {
      const r = await fetch(`${sc.url}${path}`, { redirect: "manual" });
      await r.body?.cancel();
      assert.equal(r.status, 301, path);
      assert.equal(r.headers.get("location"), location, path);
      const followed = await fetch(`${sc.url}${path}`);
      await followed.body?.cancel();
      assert.equal(followed.status, 200, path);
    }
    // A path that is no route either way, one naming another host, and a POST keep their answers.
    for (const path of ["/nope/", "//evil.example/", "//health/"]) {
      const none = await fetch(`${sc.url}${path}`, { redirect: "manual" });
      await none.body?.cancel();
      assert.equal(none.status, 404, path);
    }
    const post = await fetch(`${sc.url}/health/`, { method: "POST", redirect: "manual" });
    await post.body?.cancel();
    assert.equal(post.status, 404);
  } finally {
    await sc.stop();
    await dir.remove();
  }
});

Deno.test("launcher-run sidecar: a JSONL recorder file is rotated at recorder_max_bytes", async () => {
  const dir = await tempDir();
  const agent = startAgent();
  const file = `${dir.path}/trace.jsonl`;
  const sc = await startIatpService(["sidecar", "--port", "0", "--recorder-max-bytes", "4KiB"], {
    env: { IATP_DATA_DIR: dir.path, IATP_AGENT_URL: agent.url, IATP_RECORDER_FILE: file },
  });
  try {
    // Each exchange writes two records of a few hundred bytes: 40 of them are well past 8 KiB.
    for (let i = 0; i < 40; i++) {
      const r = await post(sc.url, { text: "x".repeat(200), i }, {
        "X-Agent-Trace-ID": `rot-${i}`,
      });
      assert.equal(r.status, 200);
      // Each exchange's records reach the file before the next exchange: the batches stay one
      // exchange each however late a busy host runs the recorder's flush timer (one batch of
      // all 40 would pass the bound once, and rotate only once).
      await waitFor(
        async () => {
          const read = (f: string) => Deno.readTextFile(f).catch(() => "");
          // Both of its records: a rotation may have taken the first to `.1` meanwhile.
          const text = (await read(`${file}.1`)) + (await read(file));
          // A line still being written is not one of them yet.
          const mine = text.split("\n").filter((l) => {
            try {
              return JSON.parse(l).trace_id === `rot-${i}`;
            } catch {
              return false;
            }
          });
          return mine.length === 2;
        },
        10_000,
        `rot-${i} written`,
      );
    }
  } finally {
    await sc.stop();
    await agent.close();
  }
  try {
    const current = await Deno.stat(file);
    const rotated = await Deno.stat(`${file}.1`);
    // Records are written in batches, each whole after the size check: a file passes the bound
    // by at most one batch (a few records here, sent one after the other).
    const slack = 16 * 1024;
    assert.ok(rotated.size > 0 && rotated.size <= 4096 + slack, `rotated: ${rotated.size}`);
    assert.ok(current.size <= 4096 + slack, `current: ${current.size}`);
    // The oldest records went with an earlier rotation; the newest are in the current file.
    const first = JSON.parse((await Deno.readTextFile(`${file}.1`)).split("\n")[0]);
    assert.notEqual(first.trace_id, "rot-0");
    assert.match(await Deno.readTextFile(file), /"rot-39"/);
    const bad = await runIatp(["sidecar", "--port", "0", "--recorder-max-bytes", "1KiB"], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /recorder_max_bytes/);
  } finally {
    await dir.remove();
  }
});
