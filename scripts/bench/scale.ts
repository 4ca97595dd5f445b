/**
 * Scale-out benchmark: each part lives in its own module and adds one key to the printed JSON.
 * Usage:
 *   deno run -A scripts/bench/scale.ts [--subs 50] [--messages 5000] [--publishers 16]
 * @module
 */
import { parseArgs } from "node:util";
import { relayScale } from "./scale_relay.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    subs: { type: "string", default: "50" },
    messages: { type: "string", default: "5000" },
    publishers: { type: "string", default: "16" },
  },
});

const relay = await relayScale({
  subscribers: Number(values.subs),
  messages: Number(values.messages),
  publishers: Number(values.publishers),
});
console.log(JSON.stringify(
  {
    bench: "scale",
    machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
    relay,
  },
  null,
  2,
));
