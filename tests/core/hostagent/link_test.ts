/** The dashboard link against a real HTTP dashboard: an empty answer that comes at once is not polled again at once. */
import assert from "node:assert/strict";
import { staticToken } from "../../../core/auth/mod.ts";
import { CommandRouter, DashboardLink } from "../../../core/hostagent/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { waitFor } from "../../helpers.ts";

Deno.test("a dashboard that answers an empty poll at once is polled again after polling_backoff", async () => {
  let polls = 0;
  // A dashboard (or a proxy in front of one) that does not hold the long poll open.
  const dashboard = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    polls++;
    return new Response(null, { status: 204 });
  });
  const lines: string[] = [];
  const log = createLogger({ service: "status", level: "debug", sink: (l) => lines.push(l) });
  const identity = { agentId: "status-1", token: staticToken("k".repeat(32)) };
  const router = new CommandRouter(
    { kind: "compose_agent", url: "http://127.0.0.1:9", identity, timeoutMs: 1000 },
    () => {
      throw new Error("no host snapshot in this test");
    },
    log,
  );
  const link = new DashboardLink({
    dashboardUrl: `http://127.0.0.1:${dashboard.addr.port}`,
    deploymentHash: "dh1",
    identity,
    router,
    pollTimeoutSecs: 30,
    backoffMs: 60_000,
    reportAttempts: 1,
    log,
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
