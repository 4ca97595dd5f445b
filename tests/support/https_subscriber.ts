/**
 * A relay subscription run in a process of its own (the test runs it with DENO_CERT naming a
 * test CA, which `fetch` and Deno's HTTP clients trust from the start): args are the relay URL,
 * the idle timeout in ms and the token. Prints one JSON line per event (`{event: n}`) and per
 * status (`{status, error}`); the test ends it.
 * @module
 */
import { RelayClient } from "../../core/relay/client/mod.ts";
import { createLogger } from "../../core/log/mod.ts";

const [url, idle, token] = Deno.args;
const log = createLogger({ service: "https-subscriber", level: "error", sink: () => {} });
const client = new RelayClient({
  url,
  token,
  idleTimeoutMs: Number(idle),
  backoffMinMs: 20,
  backoffMaxMs: 100,
  log,
});
client.subscribe(["t"], (e) => console.log(JSON.stringify({ event: e.payload.n })), {
  onStatus: (status, error) => console.log(JSON.stringify({ status, error })),
});
