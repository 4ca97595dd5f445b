import assert from "node:assert/strict";
import { signRequest } from "../../core/auth/mod.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";
import { header, json, RawConn } from "../support/raw_http.ts";

const KEY = "compose-agent-test-key-0123456789";

// The local queue lives in memory: a command it answered 202 `queued` for while the agent was
// stopping would be gone with the process. One whose body arrives once the stop began (the
// drain waits for requests in flight) is refused 503, to be sent again, not acknowledged; one
// queued before that and taken by no poller is dropped with a warning.
Deno.test("compose-agent: an enqueue still in flight when the stop begins is refused, not acknowledged and lost", async () => {
  const dir = await tempDir();
  const agent = await startIatpService(
    ["compose-agent", "--port", "0", "--docker-socket", `${dir.path}/none.sock`],
    {
      env: {
        IATP_DATA_DIR: dir.path,
        IATP_COMPOSE_AGENT_AGENT_ID: "compose-1",
        IATP_COMPOSE_AGENT_AGENT_TOKEN: KEY,
        AGENT_SCOPES: "commands:*",
        IATP_COMPOSE_AGENT_DEPLOYMENT_HASH: "dep-test",
      },
    },
  );
  let conn: RawConn | undefined;
  try {
    const path = "/api/v1/commands/enqueue";
    const body = JSON.stringify({
      command_id: "q-stop",
      type: "restart",
      parameters: { name: "web" },
    });
    const h = await signRequest(KEY, { agentId: "status-panel", method: "POST", url: path, body });
    const fields = Object.entries({ ...h, "content-type": "application/json" })
      .map(([k, v]) => `${k}: ${v}\r\n`).join("");
    // One taken by no poller before the stop: dropped with it, and said so.
    const first = JSON.stringify({ command_id: "q-1", type: "restart", parameters: { name: "a" } });
    const queued = await fetch(agent.url + path, {
      method: "POST",
      headers: {
        ...await signRequest(KEY, {
          agentId: "status-panel",
          method: "POST",
          url: path,
          body: first,
        }),
        "content-type": "application/json",
      },
      body: first,
    });
    assert.equal(queued.status, 202, await queued.text());
    conn = await RawConn.open(Number(new URL(agent.url).port));
    // The head and all but the body's last byte: the request is in flight, its route not run.
    await conn.write(
      `POST ${path} HTTP/1.1\r\nhost: localhost\r\ncontent-length: ${body.length}\r\n${fields}\r\n` +
        body.slice(0, -1),
    );
    // The stop must find the request in flight: a connection whose head the agent has not read
    // yet is an idle one to the drain, closed with it (the client sees a reset, nothing is
    // acknowledged). The request itself and this scrape are the two in flight.
    await waitFor(
      async () =>
        /iatp_http_requests_in_flight\{[^}]*\} 2\b/.test(
          await (await fetch(`${agent.url}/metrics`)).text(),
        ),
      10_000,
      "the enqueue to be in flight",
    );
    await agent.process.kill("SIGTERM");
    await waitFor(() => agent.stdout().includes('"shutting down"'), 10_000, "the stop");
    await conn.write(body.slice(-1));
    const r = await conn.read();
    assert.ok(r, "an answer");
    assert.equal(r.status, 503, r.body);
    assert.match(String(json(r).error), /stopping/);
    assert.ok(header(r, "retry-after"));
    assert.equal((await agent.process.status).code, 0);
    const dropped = agent.stdout().split("\n").filter((l) => l.includes("dropped with the stop"));
    assert.equal(dropped.length, 1, agent.stdout());
    assert.equal(JSON.parse(dropped[0]).fields.count, 1);
  } finally {
    conn?.close();
    await agent.stop();
    await dir.remove();
  }
});
