import assert from "node:assert/strict";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";
import { type StallConnection, startStallServer } from "../support/stall_server.ts";

// The dashboard hands a command over in its long-poll answer and forgets it: one whose answer
// was on the wire when the stop began was dropped unread, neither run nor reported. It is
// reported failed (not run: the agent was stopping), so the dashboard can send it again.
Deno.test("status: a command whose poll answer arrives while the agent stops is reported failed, not lost", async () => {
  const dir = await tempDir();
  const body = JSON.stringify({
    item: { command_id: "cmd-stop", type: "server_resources" },
    meta: { next_poll_secs: 0 },
  });
  const polls: StallConnection[] = [];
  const reports: StallConnection[] = [];
  const dash = startStallServer(async (c) => {
    if (c.lines[0].includes("/commands/wait/")) {
      polls.push(c);
      // The first poll's answer: its head and all but the body's last byte (held by the test).
      if (polls.length === 1) {
        await c.write(
          `HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n` +
            body.slice(0, -1),
        );
      }
    } else if (c.lines[0].includes("/commands/report")) {
      reports.push(c);
      await c.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    }
  });
  const agent = await startIatpService(["status", "--port", "0"], {
    env: {
      IATP_DATA_DIR: dir.path,
      DASHBOARD_URL: dash.url,
      DEPLOYMENT_HASH: "dep-42",
      AGENT_ID: "status-42",
      AGENT_TOKEN: "status-stop-test-key-0123456789",
      POLLING_TIMEOUT_SECS: "30",
      IATP_STATUS_COMPOSE_AGENT_URL: "http://127.0.0.1:9",
    },
  });
  try {
    await waitFor(() => polls.length === 1, 10_000, "the first poll");
    await agent.process.kill("SIGTERM");
    await waitFor(() => agent.stdout().includes('"shutting down"'), 10_000, "the stop");
    // Without the fix the agent has already closed the connection: the command is lost.
    await polls[0].write(body.slice(-1)).catch(() => {});
    assert.equal((await agent.process.status).code, 0);
    const out = agent.stdout();
    assert.equal(reports.length, 1, out);
    const notRun = out.split("\n").filter((l) => l.includes("cmd-stop") && l.includes("not run"));
    assert.equal(notRun.length, 1, out);
    // Not run: no snapshot was taken, nothing was forwarded.
    assert.doesNotMatch(out, /"dashboard command"/);
  } finally {
    await agent.stop();
    dash.close();
    await dir.remove();
  }
});
