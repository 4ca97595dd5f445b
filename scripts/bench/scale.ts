/**
 * Scale-out benchmark: relay deliveries/s with 1 and 2 replicas on JetStream versus the embedded
 * store, ledger appends/s with 1 and 2 PostgreSQL writers versus embedded SQLite, and the
 * failover time of each, in one run and one JSON. Each part lives in its own module (also
 * runnable alone) and adds one key.
 * Usage:
 *   deno run -A scripts/bench/scale.ts [--subs 50] [--messages 5000] [--publishers 16]
 *     [--appends 6000] [--clients 32]
 * @module
 */
import { parseArgs } from "node:util";
import { ledgerScale } from "./scale_ledger.ts";
import { relayScale } from "./scale_relay.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    subs: { type: "string", default: "50" },
    messages: { type: "string", default: "5000" },
    publishers: { type: "string", default: "16" },
    appends: { type: "string", default: "6000" },
    clients: { type: "string", default: "32" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: deno run -A scripts/bench/scale.ts [--subs N] [--messages N] [--publishers N]
  [--appends N] [--clients N]
  --subs N         relay subscribers per configuration (default 50)
  --messages N     events published per configuration (default 5000)
  --publishers N   concurrent publishers (default 16)
  --appends N      ledger appends per configuration (default 6000)
  --clients N      concurrent ledger clients (default 32)
Needs nats-server and PostgreSQL. Prints one JSON document.`);
  Deno.exit(0);
}

const relay = await relayScale({
  subscribers: Number(values.subs),
  messages: Number(values.messages),
  publishers: Number(values.publishers),
});
const ledger = await ledgerScale({
  appends: Number(values.appends),
  clients: Number(values.clients),
});
console.log(JSON.stringify(
  {
    bench: "scale",
    machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
    relay,
    ledger,
  },
  null,
  2,
));
