/**
 * The dashboard's start and its health rounds write their times with core/log's isoTimestamp,
 * not V8's `toISOString`: the first call of V8's Date formatting maps 1-2 MB more of the runtime
 * into the process, and the dashboard's relay state is made at start and a health round runs
 * right after it.
 */
import assert from "node:assert/strict";
import { DashboardFeed } from "../../../core/dashboard/feed.ts";
import { HealthWatch } from "../../../core/dashboard/health.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { countingDateText } from "../../support/date_text.ts";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const log = createLogger({ service: "t", level: "error", sink: () => {} });

Deno.test("the relay state made at start and a health round's times use no Date formatting", async () => {
  const service = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ status: "ok", service: "audit", tree_size: 3 }),
  );
  // A relay that refuses every connection: the feed's state is made before its first attempt.
  const relay = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const relayUrl = `http://127.0.0.1:${relay.addr.port}`;
  relay.close();
  let feed: DashboardFeed | undefined;
  const watch = new HealthWatch(
    [{ name: "audit", url: `http://127.0.0.1:${service.addr.port}` }],
    { intervalMs: 60_000, timeoutMs: 5_000, log },
  );
  try {
    const before = Date.now();
    const calls = await countingDateText(async () => {
      feed = new DashboardFeed({
        relayUrl,
        topics: ["*"],
        history: 10,
        queueBytes: 64 * 1024,
        maxClients: 1,
        log,
      });
      await watch.poll();
    });
    assert.equal(calls, 0);
    const since = feed!.relay().since;
    assert.match(since, ISO);
    assert.ok(Date.parse(since) >= before && Date.parse(since) <= Date.now(), since);
    const [audit] = watch.snapshot();
    assert.equal(audit.state, "up");
    assert.match(audit.checked_at ?? "", ISO);
    assert.equal(audit.last_seen, audit.checked_at);
  } finally {
    await feed?.close();
    await service.shutdown();
  }
});
