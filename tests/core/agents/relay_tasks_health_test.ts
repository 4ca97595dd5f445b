/**
 * The action agents' relay task subscription in `/health`: while its connections keep failing,
 * the latest reason and how many failed in a row; once connected, no count. Real sockets on
 * loopback (a relay stand-in that refuses, then streams).
 */
import assert from "node:assert/strict";
import {
  RelayTaskSource,
  type TaskPublisherPolicy,
  type TaskSink,
} from "../../../core/agents/relay_tasks.ts";
import type { AgentRuntime } from "../../../core/agents/runtime.ts";
import { RelayClient } from "../../../core/relay/client/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { chunk, startStallServer, STREAM_HEAD } from "../../support/stall_server.ts";
import { waitFor } from "../../helpers.ts";

Deno.test("relay tasks /health shows the latest failure and its count, none once connected", async () => {
  let refusing = true;
  const server = startStallServer((c) => {
    const n = server.connections.length;
    const body = `refusal #${n}`;
    const answer = refusing
      ? "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n" +
        `content-length: ${body.length}\r\n\r\n${body}`
      : STREAM_HEAD + chunk("retry: 20\n\n");
    c.write(answer).catch(() => {});
  });
  const log = createLogger({ service: "t", sink: () => {} });
  const relay = new RelayClient({
    url: server.url,
    backoffMinMs: 10,
    backoffMaxMs: 40,
    idleTimeoutMs: 5_000,
    log,
  });
  const rt = {
    agentId: "agent-1",
    relay,
    log,
    state: { getValue: () => undefined },
  } as unknown as AgentRuntime;
  const source = new RelayTaskSource(rt, {} as TaskSink, {} as TaskPublisherPolicy);
  try {
    await waitFor(() => server.connections.length >= 3, 5_000, "three refused connections");
    await waitFor(() => Number(source.health().failures ?? 0) >= 3, 5_000, "a run counted");
    const down = source.health();
    assert.equal(down.ok, false);
    assert.match(String(down.last_error), /503: refusal #\d/);
    refusing = false;
    await waitFor(() => source.health().ok === true, 5_000, "connected");
    assert.equal(source.health().failures, undefined, "no count once connected");
  } finally {
    source.close();
    await relay.close();
    server.close();
  }
});
