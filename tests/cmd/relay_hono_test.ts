// A relay with credentials and CORS serves its traffic (preflight, subscribe with resume, publish) without loading Hono, or Deno's Node layer beyond its timers.
import assert from "node:assert/strict";
import { openSse } from "../core/relay/relay_helpers.ts";
import { listeningUrl, ROOT, spawnChild, tempDir, waitFor } from "../helpers.ts";
import {
  NODE_LAYER_LOG_FLAGS,
  nodeModules,
  nodeModulesOf,
  scriptsIn,
} from "../support/node_layer.ts";

const HONO = /^script-details,\d+,([^,]*\/hono@[^,]+),/gm;

const TOKEN = "relay-hono-test-token";
const ORIGIN = "http://ok.example";

Deno.test("subscribe, resume and authenticated CORS publish load no Hono, and of the Node layer only its timers", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir.path}/logs`);
  const args = ["run", "--quiet", "--no-prompt", "--cached-only", "-A", `${ROOT}cmd/relay.ts`];
  const child = spawnChild(Deno.execPath(), [...args, "--port", "0", "--cors-origins", ORIGIN], {
    cwd: `${dir.path}/logs`,
    env: {
      DENO_V8_FLAGS: NODE_LAYER_LOG_FLAGS,
      IATP_DATA_DIR: dir.path,
      IATP_RELAY_TOKENS: JSON.stringify({ [TOKEN]: ["publish:*", "subscribe:*"] }),
    },
  });
  try {
    await waitFor(() => listeningUrl(child.stdout()) !== undefined, 30_000, "the relay to listen");
    const url = listeningUrl(child.stdout()) ?? "";
    const auth = { authorization: `Bearer ${TOKEN}`, origin: ORIGIN };
    const preflight = await fetch(`${url}/publish`, {
      method: "OPTIONS",
      headers: { origin: ORIGIN, "access-control-request-method": "POST" },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), ORIGIN);
    await preflight.body?.cancel();
    const send = async (n: number) => {
      const res = await fetch(`${url}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth },
        body: JSON.stringify({ topic: "t.x", payload: { n } }),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("access-control-allow-origin"), ORIGIN);
      return String((await res.json()).id);
    };
    const first = await send(1);
    await send(2);
    // A resume after the first event: the second is replayed.
    const sub = await openSse(url, "topic=t.*", { ...auth, "last-event-id": first });
    try {
      await sub.until((e) => e.some((x) => x.event === "message"), 5_000, "the replayed event");
      await send(3);
      await sub.until((e) => e.filter((x) => x.event === "message").length === 2, 5_000, "live");
      assert.deepEqual(sub.messages().map((m) => (m.json.payload as { n: number }).n), [2, 3]);
    } finally {
      await sub.close();
    }
    // Read while it serves (V8 writes each event out as it happens).
    const logs = `${dir.path}/logs`;
    assert.deepEqual([...await scriptsIn(logs, HONO)], [], "the relay loaded Hono");
    // The flush rounds run on Node's timers (setImmediate: the next round starts after this turn's
    // completions, microseconds on; core/async's timers wait a millisecond or two): those only.
    const timers = "setImmediate(() => {}); setTimeout(() => {}, 1);";
    const allowed = await nodeModulesOf(`${dir.path}/baseline`, timers);
    const node = [...await nodeModules(logs)].filter((m) => !allowed.has(m));
    assert.deepEqual(node, [], "the relay loaded Deno's Node layer beyond its timers");
    // The log does show Hono once a request goes to the router.
    const topics = await fetch(`${url}/topics`, { headers: auth });
    assert.equal(topics.status, 200);
    await topics.body?.cancel();
    const loaded = await scriptsIn(logs, HONO);
    assert.ok(loaded.size > 0, "the router's first request loads Hono, and the log shows it");
    const status = await child.stop("SIGTERM");
    assert.equal(status.code, 0, child.stderr());
  } finally {
    await child.stop("SIGKILL");
    await dir.remove();
  }
});
