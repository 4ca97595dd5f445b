/**
 * `iatp up` runs authenticated, end to end through the launcher: credentials are 0600 files in
 * a 0700 folder; an unauthenticated publish to an action task topic is refused; the demo still
 * yields allow/deny decisions, sidecar traces and ledger entries through authenticated calls;
 * no line of the piped output carries a credential; a second start reuses the credentials and
 * re-issues only a damaged one.
 */
import assert from "node:assert/strict";
import { type ChildService, spawnIatp, tempDir, waitFor } from "../helpers.ts";
import { openSse } from "../core/relay/relay_helpers.ts";

const PORT_FLAGS = [
  "relay",
  "policy",
  "audit",
  "dashboard",
  "sidecar",
  "untrusted-sidecar",
  "agent",
  "sensor",
  "action",
].flatMap((n) => [`--${n}-port`, "0"]);

const IDENTITIES = [
  "action",
  "admin",
  "audit",
  "dashboard",
  "demo",
  "policy",
  "sensor",
  "sidecar",
  "viewer",
];

const modeOf = (path: string) => Deno.statSync(path).mode! & 0o777;

/** Starts `iatp up` and resolves once the banner is printed, with every service URL. */
async function startUp(data: string): Promise<{ up: ChildService; urls: Map<string, string> }> {
  const up = spawnIatp(["up", ...PORT_FLAGS, "--demo-interval", "100ms", "--log-level", "info"], {
    env: { IATP_DATA_DIR: data },
  });
  try {
    await waitFor(() => up.stdout().includes("Ctrl-C stops everything."), 60_000, "the banner");
  } catch (err) {
    await up.stop("SIGKILL");
    throw new Error(`${(err as Error).message}\n${up.stdout()}\n${up.stderr()}`, { cause: err });
  }
  const urls = new Map<string, string>();
  for (const m of up.stdout().matchAll(/^ {2}([a-z-]+) +(http:\/\/\S+)$/gm)) urls.set(m[1], m[2]);
  return { up, urls };
}

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of Deno.readDirSync(dir)) out.set(e.name, Deno.readTextFileSync(`${dir}/${e.name}`));
  return out;
}

/** Asserts no line of the output, banner or log, carries a credential: stdout is a pipe. */
function assertNoCredentialLogged(up: ChildService, creds: Map<string, string>): void {
  const lines = (up.stdout() + up.stderr()).split("\n");
  assert.ok(lines.some((l) => l.startsWith("{")), "log lines were captured");
  for (const line of lines) {
    assert.ok(!line.includes("iatp1."), `a credential reached the log: ${line.slice(0, 200)}`);
    for (const [name, value] of creds) {
      if (value.trim() !== "") assert.ok(!line.includes(value.trim()), `${name} was logged`);
    }
  }
}

async function checkAuthenticatedMesh(urls: Map<string, string>, creds: string): Promise<void> {
  const token = (name: string) => Deno.readTextFileSync(`${creds}/${name}.token`).trim();
  const relay = urls.get("relay")!;
  const publish = (headers: Record<string, string>) =>
    fetch(`${relay}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({
        topic: "action.tasks.demo-action",
        payload: { instruction_type: "plugin_install", plugin_configuration: { plugin_url: "/x" } },
      }),
    });
  const anonymous = await publish({});
  assert.equal(anonymous.status, 401);
  const body = await anonymous.json();
  assert.equal(typeof body.error, "string");
  assert.equal(typeof body.request_id, "string");
  const sensor = await publish({ authorization: `Bearer ${token("sensor")}` });
  assert.equal(sensor.status, 403, "the sensor's credential may not give the action agent orders");
  assert.equal((await sensor.json()).required, "publish:action.tasks.demo-action");

  const admin = { authorization: `Bearer ${token("admin")}` };
  const denied = await openSse(relay, "topic=access.decision", {});
  assert.equal(denied.status, 401);
  await denied.close();
  const stream = await openSse(relay, "topic=access.decision&topic=iatp.trace&since=0", admin);
  const messages = () => stream.messages().map((m) => m.json);
  const payloads = (topic: string) =>
    messages().filter((m) => m.topic === topic).map((m) => m.payload as Record<string, unknown>);
  try {
    await stream.until(
      () => {
        const d = new Set(payloads("access.decision").map((p) => p.decision));
        const t = new Set(payloads("iatp.trace").map((p) => p.decision));
        return d.has("allow") && d.has("deny") && t.has("block") && t.has("allow");
      },
      45_000,
      "allow/deny decisions and allow/block sidecar traces",
    );
  } finally {
    await stream.close();
  }
  const trace = payloads("iatp.trace").find((p) => p.decision === "block")!;
  const traceUrl = `${urls.get("sidecar")}/trace/${trace.trace_id}`;
  const hidden = await fetch(traceUrl);
  assert.equal(hidden.status, 401, "traces need trace:read");
  await hidden.body?.cancel();
  const shown = await fetch(traceUrl, { headers: admin });
  assert.equal(shown.status, 200);
  assert.equal((await shown.json()).trace_id, trace.trace_id);

  await checkAgents(relay, token("demo"), admin);

  // The ledger took the policy's and the sidecar's appends (their own credentials); reads are public.
  const decision = payloads("access.decision")[0];
  for (const tx of [String(decision.tx_id), String(trace.trace_id)]) {
    await waitFor(
      async () => {
        const r = await fetch(`${urls.get("audit")}/tx/${encodeURIComponent(tx)}`);
        return r.status === 200 && (await r.json()).length > 0; // the ledger's list
      },
      15_000,
      `ledger entries for ${tx}`,
    );
  }
}

/**
 * A rerun on the same data dir decides its own intents: the first intent this run published
 * gets a decision (demo ids are unique per run, so the policy's memory of decided ids from the
 * last run does not swallow them).
 */
async function firstIntentDecided(relay: string, admin: string): Promise<void> {
  const headers = { authorization: `Bearer ${admin}` };
  const stream = await openSse(relay, "topic=access.intent&topic=access.decision&since=0", headers);
  const of = (topic: string) =>
    stream.messages().filter((m) => m.json.topic === topic).map((m) =>
      String((m.json.payload as { tx_id?: unknown }).tx_id)
    );
  try {
    await stream.until(
      () =>
        of("access.intent").length > 0 && of("access.decision").includes(of("access.intent")[0]),
      30_000,
      "a decision for this run's first intent",
    );
  } finally {
    await stream.close();
  }
}

/**
 * The agents use their file:PATH credentials: the demo credential gives the action agent a task
 * (an unknown plugin), the agent receives it (subscribe) and reports the failure (publish).
 */
async function checkAgents(
  relay: string,
  demo: string,
  admin: Record<string, string>,
): Promise<void> {
  const results = await openSse(relay, "topic=action.results&since=0", admin);
  try {
    const id = `e2e-auth-${crypto.randomUUID().slice(0, 8)}`;
    const res = await fetch(`${relay}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${demo}` },
      body: JSON.stringify({
        topic: "action.tasks.demo-action",
        payload: { id, instruction_type: "execute", plugin_id: "no-such-plugin" },
      }),
    });
    assert.equal(res.status, 200, "the demo credential may give the action agent tasks");
    await res.body?.cancel();
    await results.until(
      () =>
        results.messages().some((m) =>
          (m.json.payload as { instruction_id?: string }).instruction_id === id
        ),
      30_000,
      "the action agent's result on action.results",
    );
  } finally {
    await results.close();
  }
}

Deno.test({
  name: "iatp up: authenticated mesh, 0600 credentials, reused on the next start",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const data = await tempDir();
    const creds = `${data.path}/credentials`;
    try {
      const first = await startUp(data.path);
      let before: Map<string, string>;
      try {
        assert.equal(modeOf(creds), 0o700);
        before = snapshot(creds);
        const seeds = ["sidecar.seed", "sidecar-untrusted.seed"]; // the demo sidecars' keys
        const want = [
          "issuer.key",
          "issuer.pub",
          "revoked", // the revocation file every service watches
          ...seeds,
          ...IDENTITIES.map((n) => `${n}.token`),
        ];
        assert.deepEqual([...before.keys()].sort(), want.sort());
        for (const name of before.keys()) assert.equal(modeOf(`${creds}/${name}`), 0o600, name);
        const login = /Dashboard login: (http:\/\/\S+\/login) /.exec(first.up.stdout())?.[1];
        assert.ok(login, first.up.stdout());
        assert.ok(first.up.stdout().includes(`${creds}/viewer.token`));
        assert.ok(first.up.stdout().includes(`${creds}/admin.token`));
        await checkAuthenticatedMesh(first.urls, creds);
        assertNoCredentialLogged(first.up, before);
      } finally {
        const status = await first.up.stop("SIGINT", 20_000);
        assert.equal(status.code, 0, first.up.stderr());
      }

      Deno.writeTextFileSync(`${creds}/sensor.token`, "damaged\n");
      Deno.chmodSync(`${creds}/viewer.token`, 0o644);
      const second = await startUp(data.path);
      try {
        const after = snapshot(creds);
        for (const [name, value] of before) {
          if (name === "sensor.token") assert.notEqual(after.get(name), value, "re-issued");
          else assert.equal(after.get(name), value, `${name} reused`);
        }
        assert.equal(modeOf(`${creds}/viewer.token`), 0o600, "modes are tightened again");
        await firstIntentDecided(second.urls.get("relay")!, after.get("admin.token")!.trim());
        const output = second.up.stdout() + second.up.stderr();
        assert.doesNotMatch(output, /ephemeral/, "the demo sidecars keep their signing keys");
        const ok = await fetch(`${second.urls.get("relay")}/topics`, {
          headers: { authorization: `Bearer ${after.get("admin.token")!.trim()}` },
        });
        assert.equal(ok.status, 200, "the reused admin credential still works");
        await ok.body?.cancel();
      } finally {
        assert.equal((await second.up.stop("SIGINT", 20_000)).code, 0, second.up.stderr());
      }
    } finally {
      await data.remove();
    }
  },
});
