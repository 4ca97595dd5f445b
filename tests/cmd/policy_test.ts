import assert from "node:assert/strict";
import { command, DEFAULT_POLICY_DIR, start } from "../../cmd/policy.ts";
import { silentLogger } from "../../core/log/mod.ts";
import {
  type ChildService,
  listeningUrl,
  ROOT,
  runIatp,
  spawnChild,
  spawnIatp,
  tempDir,
  waitFor,
} from "../helpers.ts";
import { exchange, json, RawConn } from "../support/raw_http.ts";

const SEED = {
  tx_id: "tx-1",
  subject: { enterprise: "A", id: "agent-1", roles: ["buyer"] },
  resource: { enterprise: "B", id: "catalog", scope: "read" },
  context: { device: "laptop", geo: "EU", session_risk: 42 },
};

async function evaluate(url: string, body: unknown) {
  const res = await fetch(`${url}/evaluate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("POST /evaluate decides intents; malformed ones are 400 with issues", async () => {
  const svc = await start(command.resolve({ port: 0, reload_interval: 0, compat: "iatp" }), {
    log: silentLogger,
  });
  try {
    const ok = await evaluate(svc.url, SEED);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.decision, "allow");
    assert.equal(ok.body.risk_after, 37);
    assert.deepEqual(ok.body.obligations, { timebox: 3600 });
    assert.equal(ok.body.tx_id, "tx-1");
    const deny = await evaluate(svc.url, { ...SEED, context: { session_risk: 60 } });
    assert.equal(deny.body.decision, "deny");
    assert.equal(deny.body.risk_after, 60);
    const stringRisk = await evaluate(svc.url, { ...SEED, context: { session_risk: "42" } });
    assert.equal(stringRisk.status, 400);
    assert.ok(
      stringRisk.body.issues.some((i: { path: string }) => i.path === "context.session_risk"),
    );
    for (const bad of ["{nope", "[]", '"x"', JSON.stringify({ subject: 1 })]) {
      const r = await evaluate(svc.url, bad);
      assert.equal(r.status, 400, bad);
      assert.ok(r.body.error);
    }
    const pol = await (await fetch(`${svc.url}/policies`)).json();
    assert.equal(pol.policies[0].id, "seed-read-a-to-b");
    assert.equal(pol.schema, true);
    assert.equal(pol.last_error, null);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    assert.match(metrics, /iatp_policy_decisions_total\{[^}]*decision="allow"[^}]*\} 1/);
  } finally {
    await svc.close();
  }
});

Deno.test("GET /policies shows a rejected hot reload while the last good set keeps deciding", async () => {
  const dir = await tempDir("iatp-policy-cmd-");
  for (const f of ["seed.cedar", "schema.cedarschema"]) {
    await Deno.copyFile(`${DEFAULT_POLICY_DIR}/${f}`, `${dir.path}/${f}`);
  }
  const svc = await start(
    command.resolve({ port: 0, policies: dir.path, reload_interval: 50, compat: "iatp" }),
    {
      log: silentLogger,
    },
  );
  try {
    await Deno.writeTextFile(`${dir.path}/broken.cedar`, "permit (principal,");
    await waitFor(
      async () => (await (await fetch(`${svc.url}/policies`)).json()).last_error !== null,
      20_000,
      "reload error",
    );
    const pol = await (await fetch(`${svc.url}/policies`)).json();
    assert.match(pol.last_error.message, /broken\.cedar:1: /);
    assert.equal(pol.last_error.file, "broken.cedar");
    assert.equal(pol.last_error.line, 1);
    assert.equal((await evaluate(svc.url, SEED)).body.decision, "allow");
    // /health (open to probes) says where, not what: the message may quote the rules.
    const health = await (await fetch(`${svc.url}/health`)).json();
    assert.equal(health.status, "degraded");
    assert.match(
      health.reason,
      /^bundle: broken\.cedar:1: the change on disk was rejected; serving sha256:/,
    );
    assert.equal(health.components.bundle.file, "broken.cedar");
    assert.equal(health.components.bundle.line, 1);
    assert.doesNotMatch(JSON.stringify(health), /permit|unexpected/);
    await Deno.writeTextFile(
      `${dir.path}/broken.cedar`,
      `@id("deny-all") forbid (principal, action, resource);`,
    );
    await waitFor(
      async () => (await evaluate(svc.url, SEED)).body.decision === "deny",
      20_000,
      "good reload",
    );
    assert.equal((await (await fetch(`${svc.url}/policies`)).json()).last_error, null);
    const healed = await (await fetch(`${svc.url}/health`)).json();
    assert.equal(healed.status, "ok");
    assert.equal(healed.components.bundle, undefined);
  } finally {
    await svc.close();
    await dir.remove();
  }
});

Deno.test("iatp policy refuses an invalid bundle at start with exit 2 naming the key", async () => {
  const dir = await tempDir("iatp-policy-bad-");
  try {
    await Deno.writeTextFile(`${dir.path}/x.cedar`, "permit (");
    const r = await runIatp(["policy", "--port", "0", "--policies", dir.path], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /policies .*x\.cedar/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/); // no stack trace
  } finally {
    await dir.remove();
  }
});

Deno.test("a bad bundle at start names where policies was set, a file in its place too", async () => {
  const dir = await tempDir("iatp-policy-where ");
  try {
    await Deno.writeTextFile(`${dir.path}/x.cedar`, "permit (");
    const env = { IATP_DATA_DIR: dir.path, IATP_POLICY_POLICIES: dir.path };
    const fromEnv = await runIatp(["policy", "--port", "0"], { env });
    assert.equal(fromEnv.code, 2, fromEnv.stderr);
    assert.match(
      fromEnv.stderr,
      /policies \(env IATP_POLICY_POLICIES\): expected a valid Cedar bundle, found x\.cedar:1: /,
    );
    // A file where the folder should be: said so, not taken for a path to create and write.
    const file = await runIatp(["policy", "--port", "0", "--policies", `${dir.path}/x.cedar`], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(file.code, 2, file.stderr);
    assert.match(
      file.stderr,
      /policies \(flag --policies\): expected a valid Cedar bundle, found .*x\.cedar: cannot read the policy directory: Not a directory/,
    );
    assert.doesNotMatch(file.stderr, /create and write/);
  } finally {
    await dir.remove();
  }
});

Deno.test("iatp policy refuses a bundle nested too deep for Cedar at start with exit 2, no crash", async () => {
  const dir = await tempDir("iatp-policy-deep ");
  try {
    await Deno.copyFile(`${DEFAULT_POLICY_DIR}/seed.cedar`, `${dir.path}/seed.cedar`);
    await Deno.writeTextFile(
      `${dir.path}/deep.cedar`,
      `// nested\npermit (principal, action, resource) when { ${"(".repeat(400)}true${
        ")".repeat(400)
      } };`,
    );
    const r = await runIatp(["policy", "--port", "0", "--policies", dir.path], {
      env: { IATP_DATA_DIR: dir.path },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /policies .*deep\.cedar:2: nested deeper than 32 brackets/);
  } finally {
    await dir.remove();
  }
});

Deno.test("max_policies bounds the bundle at start (exit 2 naming it) and at every reload", async () => {
  const dir = await tempDir("iatp-policy-many ");
  try {
    await Deno.copyFile(`${DEFAULT_POLICY_DIR}/seed.cedar`, `${dir.path}/seed.cedar`);
    await Deno.writeTextFile(`${dir.path}/more.cedar`, "forbid (principal, action, resource);\n");
    const r = await runIatp(
      ["policy", "--port", "0", "--policies", dir.path, "--max-policies", "1"],
      { env: { IATP_DATA_DIR: dir.path } },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /seed\.cedar:\d+: more than 1 policies in the bundle \(setting max_policies\)/,
    );
    await Deno.remove(`${dir.path}/more.cedar`);
    const svc = await start(
      command.resolve({ port: 0, policies: dir.path, reload_interval: 50, max_policies: 1 }),
      { log: silentLogger },
    );
    try {
      await Deno.writeTextFile(`${dir.path}/more.cedar`, "forbid (principal, action, resource);\n");
      await waitFor(
        async () => (await (await fetch(`${svc.url}/policies`)).json()).last_error !== null,
        20_000,
        "reload error",
      );
      const pol = await (await fetch(`${svc.url}/policies`)).json();
      assert.match(pol.last_error.message, /more than 1 policies .*max_policies/);
      assert.equal((await evaluate(svc.url, SEED)).body.decision, "allow");
    } finally {
      await svc.close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("POST /evaluate: lone surrogates, inexact numbers, deep nesting and cut bodies are 400s", async () => {
  const svc = await start(command.resolve({ port: 0, reload_interval: 0, compat: "iatp" }), {
    log: silentLogger,
  });
  try {
    const intent = (subject: string, context = '{"session_risk":42}') =>
      `{"subject":${subject},"resource":{"enterprise":"B","id":"c","scope":"read"},"context":${context}}`;
    const cases: Array<[string, string]> = [
      [intent('{"id":"\\ud800","enterprise":"A"}'), "$.subject.id"],
      [intent('{"id":"a"}', '{"\\udc00x":"y"}'), "$.context"],
      [intent('{"id":"a"}', '{"session_risk":1e400}'), "$.context.session_risk"],
      [intent('{"id":"a"}', '{"session_risk":9007199254740993}'), "$.context.session_risk"],
      [
        intent('{"id":"a"}', `{"x":${"[".repeat(80)}${"]".repeat(80)}}`),
        "$.context.x" + "[0]".repeat(62),
      ],
    ];
    for (const [body, field] of cases) {
      const r = await evaluate(svc.url, body);
      assert.equal(r.status, 400, field);
      assert.equal(r.body.field, field);
      assert.ok(r.body.request_id);
    }
    const u = new URL(svc.url);
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    await conn.write(new TextEncoder().encode(
      `POST /evaluate HTTP/1.1\r\nhost: ${u.host}\r\ncontent-length: 100\r\n\r\n{"su`,
    ));
    await conn.closeWrite();
    const buf = new Uint8Array(4096);
    let text = "";
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    conn.close();
    assert.match(text, /^HTTP\/1\.1 400 /, text);
    assert.equal((await evaluate(svc.url, SEED)).status, 200, "still serving");
  } finally {
    await svc.close();
  }
});

Deno.test("POST /evaluate: context keys Cedar reads as escapes are a 400 (iatp) or left out (upstream)", async () => {
  const escapes = [
    '{"__extn":{"fn":"ip","arg":"10.0.0.1"}}',
    '{"__entity":{"type":"Subject","id":"admin"}}',
    '{"__expr":"true"}',
    // The same keys in a context map: Cedar refused a map holding __expr (a deny with an error).
    '{"m":{"__expr":"true","a":1}}',
    '{"m":{"__entity":"x"}}',
    '{"m":{"__extn":"x"}}',
  ];
  const intent = (context: string) =>
    `{"subject":{"id":"a","enterprise":"A"},"resource":{"enterprise":"B","id":"c",` +
    `"scope":"read"},"context":${context.replace("{", '{"session_risk":42,')}}`;
  for (const compat of ["iatp", "upstream"] as const) {
    const svc = await start(command.resolve({ port: 0, reload_interval: 0, compat }), {
      log: silentLogger,
    });
    try {
      for (const context of escapes) {
        const r = await evaluate(svc.url, intent(context));
        const parsed = JSON.parse(context);
        const key = "m" in parsed ? `m\\.${Object.keys(parsed.m)[0]}` : Object.keys(parsed)[0];
        if (compat === "iatp") {
          assert.equal(r.status, 400, context);
          assert.match(JSON.stringify(r.body), new RegExp(`Cedar reads a context key ${key}`));
        } else {
          // Decided as if the key were not there, not "the request could not be evaluated".
          assert.equal(r.status, 200, context);
          assert.equal(r.body.decision, "allow", JSON.stringify(r.body));
        }
      }
    } finally {
      await svc.close();
    }
  }
});

Deno.test("POST /evaluate: principal ids are compared as spelled (no case folding, no normalization)", async () => {
  const dir = await tempDir("iatp-policy-names-");
  try {
    await Deno.writeTextFile(
      `${dir.path}/p.cedar`,
      '@id("nfc")\npermit (principal == Subject::"caf\u00e9", action, resource);\n',
    );
    const svc = await start(
      command.resolve({ port: 0, policies: dir.path, reload_interval: 0, compat: "iatp" }),
      { log: silentLogger },
    );
    try {
      const decide = async (id: string) =>
        (await evaluate(svc.url, { subject: { id }, resource: {}, context: {} })).body.decision;
      assert.equal(await decide("caf\u00e9"), "allow");
      for (const other of ["cafe\u0301", "CAF\u00c9", "caf\u00e9\u200b", "\u202ecaf\u00e9"]) {
        assert.equal(await decide(other), "deny", JSON.stringify(other));
      }
    } finally {
      await svc.close();
    }
  } finally {
    await dir.remove();
  }
});

/** The environment of a running process, from /proc. */
function environOf(pid: number): Map<string, string> {
  const raw = Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0").filter(Boolean);
  return new Map(raw.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
}

/** A process's command line, one word per entry. */
function argvOf(pid: number): string[] {
  return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter(Boolean);
}

/** The service's own process: scripts/iatp execs Deno; the image's launcher runs it as a child. */
function serviceProcess(pid: number, launcher: string): number {
  if (launcher === "scripts/iatp") return pid;
  const children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(" ");
  assert.equal(children.length, 1, children.join(" "));
  return Number(children[0]);
}

/** `iatp ARGS` through the container image's launcher (scripts/launcher.ts), run here. */
function viaImageLauncher(args: string[], env: Record<string, string>): ChildService {
  const deno = Deno.execPath();
  const launcher = `${ROOT}scripts/launcher.ts`;
  return spawnChild(deno, [
    "run",
    "--quiet",
    "--allow-env",
    `--allow-run=${deno}`,
    launcher,
    ...args,
  ], {
    env,
  });
}

Deno.test("both launchers start the policy with its line's malloc setting unless the operator sets it, its young-generation cap, and without Deno's update check or code cache", async () => {
  const dir = await tempDir();
  const args = ["policy", "--port", "0", "--reload-interval", "0"];
  try {
    for (const launcher of ["scripts/iatp", "scripts/launcher.ts"]) {
      for (const [operator, want] of [[undefined, "32768"], ["65536", "65536"]] as const) {
        const env: Record<string, string> = { IATP_DATA_DIR: dir.path };
        if (operator !== undefined) env.MALLOC_MMAP_THRESHOLD_ = operator;
        const svc = launcher === "scripts/iatp"
          ? spawnIatp(args, { env })
          : viaImageLauncher(args, env);
        try {
          let url: string | undefined;
          await waitFor(() => (url = listeningUrl(svc.stdout())) !== undefined, 30_000, launcher);
          const pid = serviceProcess(svc.process.pid, launcher);
          assert.equal(environOf(pid).get("MALLOC_MMAP_THRESHOLD_"), want, launcher);
          // Deno's update check (an outbound request 500 ms into the process) stays off.
          assert.equal(environOf(pid).get("DENO_NO_UPDATE_CHECK"), "1", launcher);
          // V8's young generation capped at 2 MiB per semi-space (it grows to 16 MiB otherwise),
          // its old generation growing to twice what survived its last full collection.
          const v8 = argvOf(pid).find((a) => a.startsWith("--v8-flags="));
          const v8Flags = v8?.slice("--v8-flags=".length).split(",") ?? [];
          for (
            const flag of [
              "--max-semi-space-size=2",
              "--heap-growing-percent=100",
            ]
          ) assert.ok(v8Flags.includes(flag), `${launcher}: ${flag}`);
          // Without V8's code cache (about 0.5-1 MB less idle memory).
          assert.ok(argvOf(pid).includes("--no-code-cache"), launcher);
          assert.equal((await evaluate(url!, SEED)).body.decision, "allow");
        } finally {
          await svc.stop();
        }
      }
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("a redelivery interval or relay deadline longer than a timer can wait is exit 2 naming it", async () => {
  // 30 days is past the 2^31 - 1 ms a timer waits: it would fire every millisecond (a busy
  // redelivery loop) or fail every publish after 1 ms.
  const dir = await tempDir("iatp-policy-timer ");
  try {
    const args = ["policy", "--port", "0", "--relay-url", "http://127.0.0.1:19999"];
    const r = await runIatp([...args, "--redeliver-interval", "30d"], {
      env: { IATP_DATA_DIR: dir.path },
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /redeliver_interval \(flag --redeliver-interval\): expected .*at most 24d\), found string "30d"/,
    );
    const env = await runIatp(args, {
      env: { IATP_DATA_DIR: dir.path, IATP_POLICY_RELAY_TIMEOUT: "30d" },
      timeoutMs: 30_000,
    });
    assert.equal(env.code, 2, env.stderr);
    assert.match(
      env.stderr,
      /relay_timeout \(env IATP_POLICY_RELAY_TIMEOUT\): expected .*at most 24d/,
    );
  } finally {
    await dir.remove();
  }
});

Deno.test("POST /evaluate: a context list or map of more than 64 entries is a 400 naming the bound (iatp) or left out (upstream)", async () => {
  // Cedar reads every entry with each decision: a 900 KB map of 120,000 keys held the service
  // for two seconds a request, while lists and the context itself were bounded to 64.
  const entries = (n: number) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
  const seed = { ...SEED, context: { ...SEED.context } };
  const big = {
    map: { ...seed, context: { ...seed.context, extra: entries(65) } },
    list: { ...seed, context: { ...seed.context, extra: Array.from({ length: 65 }, (_, i) => i) } },
  };
  for (const compat of ["iatp", "upstream"] as const) {
    const svc = await start(command.resolve({ port: 0, reload_interval: 0, compat }), {
      log: silentLogger,
    });
    try {
      for (const [kind, intent] of Object.entries(big)) {
        const r = await evaluate(svc.url, intent);
        if (compat === "iatp") {
          assert.equal(r.status, 400, kind);
          const issue = r.body.issues.find((i: { path: string }) => i.path === "context.extra");
          assert.ok(issue, JSON.stringify(r.body));
          assert.match(issue.message, /at most 64/, kind);
        } else {
          assert.equal(r.status, 200, kind);
          assert.equal(r.body.decision, "allow", JSON.stringify(r.body));
        }
      }
      const fits = await evaluate(svc.url, {
        ...seed,
        context: { ...seed.context, m: entries(64), l: Object.values(entries(64)) },
      });
      assert.equal(fits.status, 200, JSON.stringify(fits.body));
      assert.equal(fits.body.decision, "allow");
    } finally {
      await svc.close();
    }
  }
});

Deno.test("a policy whose intent schemas cannot be loaded answers each decision with a JSON 500 and stays up", async () => {
  // The schemas load with the first intent, by a computed specifier (outside the graph Deno
  // builds at start). A copy of the code without its schema file: the import fails with the first
  // intent; that decision and the next are each answered, and the service keeps serving.
  const dir = await tempDir();
  const tree = `${dir.path}/tree`;
  let svc: ChildService | undefined;
  try {
    await Deno.mkdir(tree);
    for (const part of ["core", "cmd", "deno.json", "deno.lock"]) {
      const cp = await new Deno.Command("cp", { args: ["-r", `${ROOT}${part}`, tree] }).output();
      assert.ok(cp.success, part);
    }
    await Deno.symlink(`${ROOT}node_modules`, `${tree}/node_modules`);
    await Deno.remove(`${tree}/core/policy/intent_schema.ts`);
    svc = spawnChild(Deno.execPath(), [
      "run",
      "--quiet",
      "--no-prompt",
      "--cached-only",
      "--allow-all",
      `${tree}/cmd/policy.ts`,
      ...["--port", "0", "--reload-interval", "0", "--compat", "iatp"],
    ], { env: { IATP_DATA_DIR: dir.path }, cwd: tree });
    let url: string | undefined;
    await waitFor(() => (url = listeningUrl(svc!.stdout())) !== undefined, 30_000, "listening");
    for (const n of [1, 2]) {
      const r = await evaluate(url!, { ...SEED, tx_id: `tx-${n}` });
      assert.equal(r.status, 500, JSON.stringify(r.body));
      assert.equal(r.body.error, "internal error");
    }
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, "ok");
    assert.match(svc.stdout(), /"msg":"unhandled error".*intent_schema\.ts/);
  } finally {
    await svc?.stop();
    await dir.remove();
  }
});

Deno.test("compat upstream: a body whose framing broke is the edge's 400 and the connection closes; a body that is not JSON is FastAPI's 422", async () => {
  const svc = await start(command.resolve({ port: 0, reload_interval: 0, compat: "upstream" }), {
    log: silentLogger,
  });
  const port = Number(new URL(svc.url).port);
  const head = "POST /evaluate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n";
  const smuggled = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
  try {
    const broken: Array<[string, RegExp]> = [
      // The chunk's data is not followed by CRLF: the bytes after it are not a next request.
      [`Transfer-Encoding: chunked\r\n\r\n2\r\n{}zz\r\n${smuggled}`, /missing CRLF/],
      [`Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n{}`, /chunk size too large/],
      [`Transfer-Encoding: chunked\r\n\r\n2;${"e".repeat(5000)}\r\n{}\r\n0\r\n\r\n`, /chunk-size/],
    ];
    for (const [rest, error] of broken) {
      const c = await RawConn.open(port);
      await c.write(head + rest);
      const r = await c.read();
      assert.equal(r?.status, 400, r?.body);
      assert.match(String(json(r!).error), error);
      assert.equal(json(r!).detail, undefined, "no json_invalid: nothing was decoded");
      assert.ok(await c.closed(), "the connection closes: its next bytes are not parsed");
      c.close();
    }
    // A body that ended early: the client half-closed before its declared length.
    const short = await RawConn.open(port);
    await short.write(head + "Content-Length: 50\r\n\r\n{}");
    await short.closeWrite();
    const r = await short.read();
    assert.equal(r?.status, 400);
    assert.match(String(json(r!).error), /ended early/);
    short.close();
    const notJson = await exchange(port, head + "Content-Length: 5\r\n\r\n{not}");
    assert.equal(notJson?.status, 422);
    assert.equal((json(notJson!).detail as Array<{ type: string }>)[0].type, "json_invalid");
  } finally {
    await svc.close();
  }
});
