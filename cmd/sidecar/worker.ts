/**
 * Entry module of a sidecar worker isolate (`iatp sidecar --workers N`): builds the sidecar's
 * options from the same settings as the main isolate and serves the same port.
 * @module
 */
import { serveWorker } from "../../core/cluster/mod.ts";
import { createLogger } from "../../core/log/mod.ts";
import { type SidecarWorkerShared, startSidecarWorker } from "../../core/sidecar/mod.ts";
import type { SourceMap } from "../../core/config/mod.ts";
import type { SidecarConfig } from "./config.ts";
import { sidecarOptions } from "./options.ts";

serveWorker(async (init, main) => {
  const { config, index, shared, sources } = init as {
    config: SidecarConfig;
    index: number;
    shared: SidecarWorkerShared;
    sources?: SourceMap;
  };
  const log = createLogger({
    service: "sidecar",
    level: config.log_level,
    fields: { worker: index },
  });
  return await startSidecarWorker(sidecarOptions(config, log, sources), shared, main);
});
