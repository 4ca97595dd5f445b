/**
 * Entry module of a relay worker isolate (`iatp relay --workers N`): builds the relay's options
 * from the same settings as the main isolate and serves the same port, its log the main
 * isolate's.
 * @module
 */
import { type Channel, serveWorker } from "../../core/cluster/mod.ts";
import { createLogger } from "../../core/log/mod.ts";
import { type RelayWorkerInit, startRelayWorker } from "../../core/relay/mod.ts";
import { type RelayConfig, relayOptions } from "../relay.ts";

serveWorker(async (init: unknown, main: Channel) => {
  const { config, index, relay } = init as {
    config: RelayConfig;
    index: number;
    relay: RelayWorkerInit;
  };
  const log = createLogger({
    service: "relay",
    level: config.log_level,
    fields: { worker: index },
  });
  return await startRelayWorker(relayOptions(config, log), relay, main);
});
