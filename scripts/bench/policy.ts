/**
 * Policy decision benchmark: decisions/s and latency of `iatp policy` in-process (engine) and
 * over HTTP, against calling cedar-wasm's pre-parsed statefulIsAuthorized directly in the
 * same run. Prints JSON. Usage: deno run -A scripts/bench/policy.ts [--n 20000]
 * @module
 */
import * as cedar from "@cedar-policy/cedar-wasm";
import { parseArgs } from "node:util";
import { command, DEFAULT_POLICY_DIR, start } from "../../cmd/policy.ts";
import { silentLogger } from "../../core/log/mod.ts";
import {
  loadBundle,
  loadIntentReader,
  PolicyEngine,
  toCedarRequest,
} from "../../core/policy/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "20000" },
    http: { type: "string", default: "5000" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: deno run -A scripts/bench/policy.ts [--n N] [--http N]
  --n N      in-process decisions, and direct cedar-wasm calls (default 20000)
  --http N   decisions over HTTP (default 5000)
Prints one JSON document.`);
  Deno.exit(0);
}
const N = Number(values.n);
const HTTP_N = Number(values.http);
const CLIENTS = 50;

const SEED = {
  tx_id: "bench",
  subject: { enterprise: "A", id: "agent-1", roles: ["buyer"] },
  resource: { enterprise: "B", id: "catalog", scope: "read" },
  context: { device: "laptop", geo: "EU", session_risk: 42 },
};

function measure(fn: () => void, n: number) {
  for (let i = 0; i < Math.min(2000, n); i++) fn(); // warm-up
  const samples = new Float64Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    fn();
    samples[i] = performance.now() - s;
  }
  const total = performance.now() - t0;
  samples.sort();
  return {
    per_s: Math.round(n / (total / 1000)),
    p50_us: +(samples[Math.floor(n * 0.5)] * 1000).toFixed(1),
    p99_us: +(samples[Math.floor(n * 0.99)] * 1000).toFixed(1),
  };
}

const bundle = await loadBundle(DEFAULT_POLICY_DIR);
const engine = new PolicyEngine(bundle);
const readIntent = await loadIntentReader();
const intent = readIntent(SEED, "iatp").intent;

// Peer: the raw pre-parsed Cedar call with a request built once.
const req = toCedarRequest(intent);
cedar.preparsePolicySet("bench-direct", {
  staticPolicies: Object.fromEntries(bundle.policies.map((p) => [p.id, p.text])),
});
const call = {
  principal: req.principal,
  action: req.action,
  resource: req.resource,
  context: req.context as cedar.Context,
  entities: req.entities as cedar.EntityJson[],
  preparsedPolicySetId: "bench-direct",
};
const direct = measure(() => {
  const r = cedar.statefulIsAuthorized(call);
  if (r.type !== "success" || r.response.decision !== "allow") throw new Error("direct: not allow");
}, N);
const inProcess = measure(() => {
  if (engine.evaluate(readIntent(SEED, "iatp").intent).decision !== "allow") {
    throw new Error("not allow");
  }
}, N);

const svc = await start(command.resolve({ port: 0, reload_interval: 0 }), { log: silentLogger });
const body = JSON.stringify(SEED);
let next = 0;
const client = async () => {
  while (next++ < HTTP_N) {
    const r = await fetch(`${svc.url}/evaluate`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    });
    if ((await r.json()).decision !== "allow") throw new Error("http: not allow");
  }
};
const t0 = performance.now();
await Promise.all(Array.from({ length: CLIENTS }, client));
const httpSecs = (performance.now() - t0) / 1000;
await svc.close();
const http = { per_s: Math.round(HTTP_N / httpSecs), clients: CLIENTS };

console.log(JSON.stringify(
  {
    bench: "policy",
    cedar: cedar.getCedarVersion(),
    decisions: N,
    direct_stateful_is_authorized: direct,
    in_process: inProcess,
    http,
    ratios: {
      in_process_vs_direct_throughput: +(inProcess.per_s / direct.per_s).toFixed(3),
      http_vs_direct_throughput: +(http.per_s / direct.per_s).toFixed(3),
    },
    targets: { in_process_per_s: 20000, p50_us: 50 },
  },
  null,
  2,
));
