/**
 * The auth matrix over real sockets, per service and route: no credential, a wrong one (garbage,
 * another issuer's), an expired and a revoked one, one without the scope, the right one, and the
 * right one in the query string. Every refusal is the JSON envelope; no body and no log line
 * carries a credential.
 */
import assert from "node:assert/strict";
import * as audit from "../../cmd/audit.ts";
import * as policy from "../../cmd/policy.ts";
import * as relay from "../../cmd/relay.ts";
import * as sidecar from "../../cmd/sidecar.ts";
import * as status from "../../cmd/status.ts";
import { statusSpec } from "../../cmd/status/config.ts";
import { decodeClaims, generateIssuer, issueCredential, type Issuer } from "../../core/auth/mod.ts";
import type { Service } from "../../core/http/mod.ts";
import { createLogger, type Logger } from "../../core/log/mod.ts";
import { tempDir, waitFor } from "../helpers.ts";

/** One guarded route. */
interface Route {
  name: string;
  /** The scope the route needs. */
  scope: string;
  /** Status of a successful call. */
  ok: number;
  call(base: string, headers: Record<string, string>, query?: string): Promise<Response>;
}

const json = { "content-type": "application/json" };

function post(path: string, body: unknown): Route["call"] {
  return (base, headers, query = "") =>
    fetch(`${base}${path}${query}`, {
      method: "POST",
      headers: { ...json, ...headers },
      body: JSON.stringify(body),
    });
}

function get(path: string): Route["call"] {
  return (base, headers, query = "") =>
    fetch(`${base}${path}${path.includes("?") ? query.replace("?", "&") : query}`, { headers });
}

const INTENT = {
  tx_id: "matrix-1",
  subject: { enterprise: "A", id: "agent-7", roles: ["analyst"] },
  resource: { enterprise: "B", id: "dataset-42", scope: "read" },
  context: { device: "managed-laptop", geo: "EU", session_risk: 10 },
};

/** The credentials of the matrix, issued once. */
interface Creds {
  issuer: Issuer;
  revokedJti: string;
  forScope(scope: string): Promise<string>;
  wrong: Record<string, string>;
  all: string[];
}

async function credentials(): Promise<Creds> {
  const issuer = await generateIssuer();
  const stranger = await generateIssuer();
  const all: string[] = [];
  const keep = (t: string) => (all.push(t), t);
  const revoked = keep(await issueCredential(issuer, { sub: "revoked", scopes: ["*"] }));
  const wrong = {
    garbage: keep("not-a-credential-at-all"),
    "other issuer": keep(await issueCredential(stranger, { sub: "intruder", scopes: ["*"] })),
    expired: keep(
      await issueCredential(issuer, {
        sub: "old",
        scopes: ["*"],
        ttlMs: 60_000,
        now: Date.now() - 3_600_000,
      }),
    ),
    revoked,
  };
  return {
    issuer,
    revokedJti: decodeClaims(revoked).jti,
    forScope: async (scope) =>
      keep(await issueCredential(issuer, { sub: "caller", scopes: [scope] })),
    wrong,
    all,
  };
}

/** Captures every log line of a service at debug level. */
function capture(lines: string[], service: string): Logger {
  return createLogger({ service, level: "debug", sink: (l) => lines.push(l) });
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

async function readBody(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  return JSON.parse(text);
}

/** Runs every case against one route; returns the 401 bodies (minus request ids) it saw. */
async function matrix(base: string, route: Route, creds: Creds): Promise<Set<string>> {
  const right = await creds.forScope(route.scope);
  const noScope = await creds.forScope("dashboard:view");
  const unauth = new Set<string>();
  const refused = async (what: string, res: Response, status: number) => {
    assert.equal(res.status, status, `${route.name}: ${what}`);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const body = await readBody(res);
    assert.equal(typeof body.error, "string", `${route.name}: ${what}: envelope`);
    assert.equal(typeof body.request_id, "string", `${route.name}: ${what}: envelope`);
    const text = JSON.stringify(body);
    for (const c of creds.all) assert.ok(!text.includes(c), `${route.name}: ${what} echoes it`);
    assert.ok(!text.includes("iatp1."), `${route.name}: ${what}: no credential in the body`);
    return body;
  };
  for (const [what, headers] of Object.entries({ none: {}, ...mapWrong(creds.wrong) })) {
    const res = await route.call(base, headers);
    const body = await refused(what, res, 401);
    assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="iatp"');
    unauth.add(`${body.error}|${body.reason}`);
  }
  const denied = await refused("no scope", await route.call(base, bearer(noScope)), 403);
  assert.equal(denied.required, route.scope, route.name);
  assert.ok(String(denied.error).includes(route.scope), `${route.name}: 403 names the scope`);

  const inQuery = await route.call(base, {}, `?access_token=${encodeURIComponent(right)}`);
  assert.equal((await refused("query string", inQuery, 401)).reason, "query_string");
  const both = await route.call(base, bearer(right), `?token=${encodeURIComponent(right)}`);
  await refused("query string beside a header", both, 401);

  const ok = await route.call(base, bearer(right));
  assert.equal(ok.status, route.ok, `${route.name}: right scope`);
  await ok.body?.cancel();
  return unauth;
}

function mapWrong(wrong: Record<string, string>): Record<string, Record<string, string>> {
  return Object.fromEntries(Object.entries(wrong).map(([k, t]) => [k, bearer(t)]));
}

function authConfig(creds: Creds) {
  return { auth_keys: [creds.issuer.publicKey], auth_revoked: [creds.revokedJti] };
}

/** Asserts no captured log line holds a credential, and that refusals were logged at all. */
function assertCleanLogs(lines: string[], creds: Creds, service: string): void {
  assert.ok(
    lines.some((l) => l.includes('"request refused"')),
    `${service}: refusals reach the log`,
  );
  for (const line of lines) {
    for (const c of creds.all) assert.ok(!line.includes(c), `${service} logged a credential`);
    assert.ok(!line.includes("iatp1."), `${service} logged a credential: ${line}`);
  }
}

Deno.test("auth matrix: relay publish, subscribe and topics", async () => {
  const creds = await credentials();
  const lines: string[] = [];
  const svc = await relay.start(
    relay.spec.resolve({ port: 0, workers: 1, ...authConfig(creds) }),
    { log: capture(lines, "relay") },
  );
  try {
    const routes: Route[] = [
      {
        name: "relay publish",
        scope: "publish:sensor.cpu",
        ok: 200,
        call: post("/publish", { topic: "sensor.cpu", payload: { v: 1 } }),
      },
      {
        name: "relay subscribe",
        scope: "subscribe:sensor.cpu",
        ok: 200,
        call: get("/subscribe?topic=sensor.cpu"),
      },
    ];
    const bodies = new Set<string>();
    for (const r of routes) for (const b of await matrix(svc.url, r, creds)) bodies.add(b);
    assert.equal(bodies.size, 1, "every 401 reads the same, whatever was wrong");

    // /topics: unauthenticated is 401; a credential sees only the topics it may subscribe to.
    const topics = (t?: string) => fetch(`${svc.url}/topics`, { headers: t ? bearer(t) : {} });
    const none = await topics();
    assert.equal(none.status, 401);
    await none.body?.cancel();
    const expired = await topics(creds.wrong.expired);
    assert.equal(expired.status, 401);
    await expired.body?.cancel();
    const blind = await (await topics(await creds.forScope("publish:sensor.*"))).json();
    assert.deepEqual(blind.topics, [], "a publish-only credential sees no topics");
    const seen = await (await topics(await creds.forScope("subscribe:sensor.*"))).json();
    assert.deepEqual(seen.topics.map((t: { topic: string }) => t.topic), ["sensor.cpu"]);
  } finally {
    await svc.close();
  }
  assertCleanLogs(lines, creds, "relay");
});

Deno.test("auth matrix: a topic differing in case is another topic; one beyond ASCII is no topic", async () => {
  const creds = await credentials();
  const svc = await relay.start(
    relay.spec.resolve({ port: 0, workers: 1, compat: "iatp", ...authConfig(creds) }),
    { log: createLogger({ service: "relay", sink: () => {} }) },
  );
  try {
    const token = await creds.forScope("*");
    const lower = await issueCredential(creds.issuer, {
      sub: "lower",
      scopes: ["publish:sensor.*", "subscribe:sensor.*"],
    });
    const publish = async (t: string, topic: string) => {
      const r = await fetch(`${svc.url}/publish`, {
        method: "POST",
        headers: { ...json, ...bearer(t) },
        body: JSON.stringify({ topic, payload: { v: 1 } }),
      });
      return { status: r.status, body: await r.json() };
    };
    assert.equal((await publish(token, "Sensor.cpu")).status, 201);
    assert.equal((await publish(lower, "Sensor.cpu")).status, 403);
    assert.equal((await publish(lower, "sensor.cpu")).status, 201);
    const sub = await fetch(`${svc.url}/subscribe?topic=SENSOR.*&since=0`, {
      headers: bearer(lower),
    });
    assert.equal(sub.status, 403);
    await sub.body?.cancel();
    const seen = await (await fetch(`${svc.url}/topics`, { headers: bearer(lower) })).json();
    assert.deepEqual(seen.topics.map((t: { topic: string }) => t.topic), ["sensor.cpu"]);
    for (
      const topic of [
        "sensor.caf\u00e9",
        "sensor.cafe\u0301",
        "sensor.c\u200bpu",
        "sensor.\u202ecpu",
      ]
    ) {
      const r = await publish(token, topic);
      assert.equal(r.status, 400, topic);
      assert.equal(r.body.error, "invalid topic name");
    }
    await assert.rejects(
      issueCredential(creds.issuer, { sub: "x", scopes: ["subscribe:sensor.caf\u00e9"] }),
    );
  } finally {
    await svc.close();
  }
});

Deno.test("auth matrix: audit append; reads stay public", async () => {
  const creds = await credentials();
  const dir = await tempDir();
  const lines: string[] = [];
  let svc: Service | undefined;
  try {
    const started = await audit.start(
      audit.spec.resolve({ port: 0, db: `${dir.path}/audit.db`, ...authConfig(creds) }),
      { log: capture(lines, "audit") },
    );
    svc = started;
    const route: Route = {
      name: "audit append",
      scope: "audit:append",
      ok: 200,
      call: post("/audit", { tx_id: "tx-m", event: "matrix", actor: "test", payload: {} }),
    };
    assert.equal((await matrix(started.url, route, creds)).size, 1);
    // An actor-bound credential appends as its actor (or a prefix's) and as nobody else.
    const bound = await creds.forScope("audit:append:sensor:*");
    const as = (actor: string) =>
      post("/audit", { tx_id: "tx-m", event: "matrix", actor, payload: {} })(started.url, {
        authorization: `Bearer ${bound}`,
      });
    const own = await as("sensor:cpu");
    assert.equal(own.status, 200, await own.text());
    const other = await as("policy");
    assert.equal(other.status, 403);
    assert.match((await other.json()).error, /may not append entries with actor "policy"/);
    for (const path of ["/checkpoint", "/tx/tx-m", "/entries/0", "/proof/inclusion?index=0"]) {
      const res = await fetch(`${started.url}${path}`);
      assert.equal(res.status, 200, `${path} is public`);
      await res.body?.cancel();
    }
  } finally {
    await svc?.close();
    await dir.remove();
  }
  assertCleanLogs(lines, creds, "audit");
});

Deno.test("auth matrix: policy evaluate and the policy list", async () => {
  const creds = await credentials();
  const lines: string[] = [];
  const svc = await policy.start(
    policy.spec.resolve({ port: 0, reload_interval: 0, ...authConfig(creds) }),
    { log: capture(lines, "policy") },
  );
  try {
    const routes: Route[] = [
      {
        name: "policy evaluate",
        scope: "policy:evaluate",
        ok: 200,
        call: post("/evaluate", INTENT),
      },
      { name: "policy list", scope: "policy:evaluate", ok: 200, call: get("/policies") },
    ];
    for (const r of routes) assert.equal((await matrix(svc.url, r, creds)).size, 1);
  } finally {
    await svc.close();
  }
  assertCleanLogs(lines, creds, "policy");
});

Deno.test("auth matrix: sidecar trace lookup; manifest and /proxy stay open", async () => {
  const creds = await credentials();
  const lines: string[] = [];
  const svc = await sidecar.start(
    sidecar.command.resolve({
      port: 0,
      workers: 1, // the log lines checked below are this isolate's
      agent_url: "http://127.0.0.1:9",
      drain_timeout: 2_000,
      ...authConfig(creds),
    }),
    { log: capture(lines, "sidecar") },
  );
  try {
    const traceId = crypto.randomUUID();
    // The trust decision, not a credential, gates /proxy: a request with an SSN is blocked.
    const blocked = await post("/proxy", { customer: { ssn: "123-45-6789" } })(
      svc.url,
      { "x-agent-trace-id": traceId },
    );
    assert.equal(blocked.status, 403);
    assert.equal((await blocked.json()).blocked, true);
    const manifest = await fetch(`${svc.url}/.well-known/agent-manifest`);
    assert.equal(manifest.status, 200);
    await manifest.body?.cancel();
    const route: Route = {
      name: "sidecar trace",
      scope: "trace:read",
      ok: 200,
      call: get(`/trace/${traceId}`),
    };
    assert.equal((await matrix(svc.url, route, creds)).size, 1);
  } finally {
    await svc.close();
  }
  assertCleanLogs(lines, creds, "sidecar");
});

Deno.test("auth matrix: status agent reads, both forms of /metrics included", async () => {
  const creds = await credentials();
  const dir = await tempDir();
  const lines: string[] = [];
  let svc: Service | undefined;
  try {
    const started = await status.start(
      statusSpec.resolve({
        port: 0,
        disk_path: dir.path,
        metrics_interval: 100,
        drain_timeout: 2_000,
        ...authConfig(creds),
      }),
      { log: capture(lines, "status") },
    );
    svc = started;
    const asJson: Route["call"] = (base, headers, query = "") =>
      fetch(`${base}/metrics${query}`, { headers: { accept: "application/json", ...headers } });
    const routes: Route[] = [
      { name: "status metrics", scope: "status:read", ok: 200, call: get("/api/v1/metrics") },
      { name: "status stream", scope: "status:read", ok: 200, call: get("/api/v1/metrics/stream") },
      { name: "status capabilities", scope: "status:read", ok: 200, call: get("/capabilities") },
      { name: "status JSON snapshot", scope: "status:read", ok: 200, call: asJson },
      { name: "status Prometheus text", scope: "status:read", ok: 200, call: get("/metrics") },
    ];
    const bodies = new Set<string>();
    for (const r of routes) for (const b of await matrix(started.url, r, creds)) bodies.add(b);
    assert.equal(bodies.size, 1, "every 401 reads the same, whatever was wrong");
    for (const path of ["/health", "/ready"]) {
      const res = await fetch(`${started.url}${path}`);
      assert.equal(res.status, 200, `${path} is open`);
      await res.body?.cancel();
    }
  } finally {
    await svc?.close();
    await dir.remove();
  }
  assertCleanLogs(lines, creds, "status");
});

Deno.test("revocation file: a credential listed while the service runs is refused, no restart", async () => {
  const creds = await credentials();
  const dir = await tempDir();
  const file = `${dir.path}/revoked`;
  await Deno.writeTextFile(file, "# revoked credential ids\n");
  let svc: Service | undefined;
  try {
    svc = await audit.start(
      audit.spec.resolve({
        port: 0,
        db: `${dir.path}/audit.db`,
        auth_keys: [creds.issuer.publicKey],
        auth_revoked: [`file:${file}`],
      }),
      { log: createLogger({ service: "audit", level: "error" }) },
    );
    const token = await creds.forScope("audit:append");
    const call = post("/audit", { tx_id: "tx-r", event: "revoke", actor: "test", payload: {} });
    const first = await call(svc.url, { authorization: `Bearer ${token}` });
    assert.equal(first.status, 200, await first.text());
    await Deno.writeTextFile(file, `${decodeClaims(token).jti}\n`, { append: true });
    let last = 0;
    await waitFor(
      async () => {
        const res = await call(svc!.url, { authorization: `Bearer ${token}` });
        await res.body?.cancel();
        last = res.status;
        return last === 401;
      },
      10_000,
      "the revoked credential to be refused",
    );
    assert.equal(last, 401);
  } finally {
    await svc?.close();
    await dir.remove();
  }
});
