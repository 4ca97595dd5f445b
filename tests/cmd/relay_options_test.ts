/** The relay's server options as its configuration builds them, for one isolate and for several. */
import assert from "node:assert/strict";
import { relayOptions, spec } from "../../cmd/relay.ts";
import { createLogger } from "../../core/log/mod.ts";
import { loaded } from "../helpers.ts";

const noEnv = { env: () => undefined };
const log = createLogger({ service: "relay", level: "error" });

async function flushOf(args: string[]) {
  const config = loaded(await spec.parse(["--port", "0", ...args], noEnv)).config;
  const flush = relayOptions(config, log).flush;
  assert.ok(flush);
  return flush;
}

Deno.test("each of N relay isolates starts its flush rounds N times flush_min_interval apart", async () => {
  // One isolate: the interval as set (5 ms by default).
  assert.equal((await flushOf([])).minIntervalMs, 5);
  assert.equal((await flushOf(["--workers", "1", "--flush-min-interval", "7ms"])).minIntervalMs, 7);
  // N isolates each hold about 1/N of the subscribers: the host's rounds stay as frequent as one
  // isolate's, each carrying as many events per write.
  assert.equal((await flushOf(["--workers", "2"])).minIntervalMs, 10);
  assert.equal(
    (await flushOf(["--workers", "3", "--flush-min-interval", "7ms"])).minIntervalMs,
    21,
  );
  assert.equal((await flushOf(["--workers", "2", "--flush-min-interval", "0"])).minIntervalMs, 0);
  // The other round settings are not scaled.
  const f = await flushOf(["--workers", "2", "--flush-quiet", "3ms", "--flush-max-wait", "2s"]);
  assert.equal(f.quietMs, 3);
  assert.equal(f.maxWaitMs, 2_000);
});
