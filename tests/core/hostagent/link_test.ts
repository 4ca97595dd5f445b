/**
 * The dashboard link against a real HTTP dashboard: an empty answer that comes at once is not
 * polled again at once; an answer not in the wire's shape is never dropped silently.
 */
import assert from "node:assert/strict";
import { staticToken } from "../../../core/auth/mod.ts";
import { CommandRouter, DashboardLink } from "../../../core/hostagent/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { waitFor } from "../../helpers.ts";
import { type FakeDashboard, startFakeDashboard } from "../../support/fake_dashboard.ts";

Deno.test("a dashboard that answers an empty poll at once is polled again after polling_backoff", async () => {
  let polls = 0;
  // A dashboard (or a proxy in front of one) that does not hold the long poll open.
  const dashboard = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    polls++;
    return new Response(null, { status: 204 });
  });
  const { link, lines } = makeLink({
    url: `http://127.0.0.1:${dashboard.addr.port}`,
    deploymentHash: "dh1",
    level: "debug",
    agentId: "status-1",
    key: "k".repeat(32),
    pollTimeoutSecs: 30,
    backoffMs: 60_000,
  });
  try {
    link.start();
    await waitFor(
      () => lines.some((l) => l.includes("dashboard answered the poll at once")),
      20_000,
      "the early answer noticed",
    );
    assert.equal(polls, 1, "no second poll before polling_backoff");
  } finally {
    await link.close();
    await dashboard.shutdown();
  }
});

Deno.test("closing the link ends its open poll and logs that the link closed, once", async () => {
  let polls = 0;
  // A dashboard that holds the long poll open until the agent leaves.
  const dashboard = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    polls++;
    return new Promise<Response>((resolve) =>
      req.signal.addEventListener("abort", () => resolve(new Response(null, { status: 204 })))
    );
  });
  const { link, lines } = makeLink({
    url: `http://127.0.0.1:${dashboard.addr.port}`,
    deploymentHash: "dh-close",
    level: "info",
    agentId: "status-1",
    key: "k".repeat(32),
    pollTimeoutSecs: 30,
    backoffMs: 60_000,
  });
  try {
    link.start();
    await waitFor(() => polls === 1, 20_000, "the open poll");
    await link.close();
    await link.close();
    const closed = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "dashboard link closed");
    assert.equal(closed.length, 1, lines.join("\n"));
    assert.equal(closed[0].level, "info");
    assert.deepEqual(closed[0].fields, { commands_handled: 0 });
  } finally {
    await link.close();
    await dashboard.shutdown();
  }
});

/** The HMAC key of the fake dashboard tests below. */
const KEY = "link-test-hmac-key-0123456789abcdef";

/** A link to the dashboard at `url`, its log lines kept in `lines`; Docker commands go nowhere. */
function makeLink(o: {
  url: string;
  deploymentHash: string;
  level: "debug" | "info";
  agentId: string;
  key: string;
  pollTimeoutSecs: number;
  backoffMs: number;
}) {
  const lines: string[] = [];
  const log = createLogger({ service: "status", level: o.level, sink: (l) => lines.push(l) });
  const identity = { agentId: o.agentId, token: staticToken(o.key) };
  const router = new CommandRouter(
    { kind: "compose_agent", url: "http://127.0.0.1:9", identity, timeoutMs: 1000 },
    () => {
      throw new Error("no host snapshot in this test");
    },
    log,
  );
  const link = new DashboardLink({
    dashboardUrl: o.url,
    deploymentHash: o.deploymentHash,
    identity,
    router,
    pollTimeoutSecs: o.pollTimeoutSecs,
    backoffMs: o.backoffMs,
    reportAttempts: 1,
    log,
  });
  const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { link, lines, logged };
}

/** A link to `dash` whose log lines land in `lines`; Docker commands go nowhere. */
function linkTo(dash: FakeDashboard, deploymentHash: string) {
  return makeLink({
    url: dash.url,
    deploymentHash,
    level: "info",
    agentId: "status-2",
    key: KEY,
    pollTimeoutSecs: 1,
    backoffMs: 50,
  });
}

Deno.test("a command sent at the top level of a poll answer, not under item, is not run and says so", async () => {
  const dash = startFakeDashboard({ token: KEY, deploymentHash: "dh2", maxHoldMs: 200 });
  const { link, lines, logged } = linkTo(dash, "dh2");
  try {
    // The command's fields where `item` should hold them, then one in the wire's shape.
    dash.enqueueAnswer({
      command_id: "cmd-top",
      type: "format_disk",
      parameters: {},
      deployment_hash: "dh2",
      meta: { next_poll_secs: 0 },
    });
    dash.enqueue({ command_id: "cmd-item", type: "format_disk" });
    link.start();
    // The link goes on: the next command, under `item`, is run and reported.
    assert.equal((await dash.waitForReport("cmd-item", 20_000)).status, "failed");
    assert.equal(dash.reports.some((r) => r.command_id === "cmd-top"), false, "not run");
    const warning = logged().find((l) =>
      String(l.msg).includes("command fields at its top level, not under `item`")
    );
    assert.ok(warning, `no warning in ${lines.join("\n")}`);
    assert.equal(warning.level, "warn");
    assert.deepEqual(warning.fields, {
      command_id: "cmd-top",
      top_level: ["command_id", "type", "parameters", "deployment_hash"],
    });
  } finally {
    await link.close();
    await dash.close();
  }
});

Deno.test("a poll answer that is not a JSON object is a failed poll, logged and backed off", async () => {
  const dash = startFakeDashboard({ token: KEY, deploymentHash: "dh3", maxHoldMs: 200 });
  const { link, lines, logged } = linkTo(dash, "dh3");
  try {
    dash.enqueueAnswer([{ command_id: "cmd-listed", type: "format_disk", parameters: {} }]);
    dash.enqueue({ command_id: "cmd-after", type: "format_disk" });
    link.start();
    assert.equal((await dash.waitForReport("cmd-after", 20_000)).status, "failed");
    assert.equal(dash.reports.some((r) => r.command_id === "cmd-listed"), false, "not run");
    const failed = logged().find((l) => l.msg === "dashboard poll failed");
    assert.ok(failed, `no warning in ${lines.join("\n")}`);
    const fields = failed.fields as Record<string, unknown>;
    assert.match(JSON.stringify(fields.err), /not a JSON object/);
    assert.equal(typeof fields.retry_in_ms, "number");
  } finally {
    await link.close();
    await dash.close();
  }
});

Deno.test("a command with a valid id but a malformed field is reported failed naming the field, not run", async () => {
  const dash = startFakeDashboard({ token: KEY, deploymentHash: "dh4", maxHoldMs: 200 });
  const { link } = linkTo(dash, "dh4");
  try {
    dash.enqueueAnswer({
      item: { command_id: "cmd-bad-params", type: "restart", parameters: "web" },
      meta: { next_poll_secs: 0 },
    });
    dash.enqueueAnswer({
      item: { command_id: "cmd-bad-type", type: "Restart; rm -rf /", parameters: {} },
      meta: { next_poll_secs: 0 },
    });
    link.start();
    // The dashboard handed them over: each is answered, so it does not wait for it for ever.
    const params = await dash.waitForReport("cmd-bad-params", 20_000);
    assert.equal(params.status, "failed");
    assert.equal(params.deployment_hash, "dh4");
    assert.match(params.error ?? "", /^invalid command: parameters: /);
    const type = await dash.waitForReport("cmd-bad-type", 20_000);
    assert.equal(type.status, "failed");
    assert.match(type.error ?? "", /^invalid command: type: /);
    assert.doesNotMatch(type.error ?? "", /rm -rf/, "its value is not echoed");
  } finally {
    await link.close();
    await dash.close();
  }
});

Deno.test("a stop while a forwarded command waits on the compose-agent ends the wait and reports it failed", async () => {
  const dash = startFakeDashboard({ token: KEY, deploymentHash: "dh5", maxHoldMs: 200 });
  const got = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  // A compose-agent that takes the command and does not answer (a long deploy, or a hung agent).
  const composeAgent = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      await req.arrayBuffer();
      got.resolve();
      await release.promise;
      return new Response(null, { status: 503 });
    },
  );
  const log = createLogger({ service: "status", level: "info", sink: () => {} });
  const identity = { agentId: "status-5", token: staticToken(KEY) };
  const router = new CommandRouter(
    {
      kind: "compose_agent",
      url: `http://127.0.0.1:${composeAgent.addr.port}`,
      identity,
      timeoutMs: 3_600_000,
    },
    () => {
      throw new Error("no host snapshot in this test");
    },
    log,
  );
  const link = new DashboardLink({
    dashboardUrl: dash.url,
    deploymentHash: "dh5",
    identity,
    router,
    pollTimeoutSecs: 1,
    backoffMs: 50,
    reportAttempts: 1,
    log,
  });
  try {
    dash.enqueue({ command_id: "cmd-in-flight", type: "restart", parameters: { name: "web" } });
    link.start();
    await got.promise;
    const closed = link.close().then(() => "closed");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise((r) => {
      timer = setTimeout(r, 30_000, "still waiting on the compose-agent");
    });
    assert.equal(await Promise.race([closed, bound]), "closed");
    clearTimeout(timer);
    const report = await dash.waitForReport("cmd-in-flight", 20_000);
    assert.equal(report.status, "failed");
    assert.match(report.error ?? "", /stopped before the compose-agent answered/);
  } finally {
    release.resolve();
    await link.close();
    await composeAgent.shutdown();
    await dash.close();
  }
});
