/**
 * `iatp sidecar`: the IATP trust proxy in front of an agent (core/sidecar), and
 * `iatp sidecar verify-attestation URL` to check another sidecar's attestation.
 * @module
 */
import { workerCount } from "../core/cluster/mod.ts";
import type { SourceMap } from "../core/config/mod.ts";
import type { Service } from "../core/http/mod.ts";
import { createLogger, type Logger } from "../core/log/mod.ts";
import { startSidecarCluster, startSidecarServer } from "../core/sidecar/mod.ts";
import { sidecarOptions } from "./sidecar/options.ts";
import { serviceCommand } from "./shared.ts";
import { type SidecarConfig, sidecarSpec } from "./sidecar/config.ts";
import { VERIFY_USAGE, verifyAttestationCommand } from "./sidecar/verify.ts";
import { runAsEntry } from "./run.ts";
export { verifyAttestation } from "./sidecar/verify.ts";

export type { SidecarConfig };

/**
 * Starts the sidecar: on one isolate, or with `workers` above 1 on that many isolates of this
 * process sharing the port.
 * @throws {ConfigError} naming `auth_keys` when it would listen beyond loopback with no
 * credentials (protected mode), `signing_key` for a malformed seed, a token setting whose
 * file cannot be read, or `recorder_url` when its Redis cannot be reached.
 */
export async function start(
  config: SidecarConfig,
  deps: { log?: Logger; sources?: SourceMap } = {},
): Promise<Service> {
  const log = deps.log ?? createLogger({ service: "sidecar", level: config.log_level });
  const options = sidecarOptions(config, log, deps.sources);
  const workers = workerCount(config.workers);
  if (workers === 1) return await startSidecarServer(options);
  return await startSidecarCluster(options, {
    workers: workers - 1,
    module: new URL("./sidecar/worker.ts", import.meta.url),
    workerInit: (port, seed, index) => ({
      config: { ...config, port, signing_key: seed },
      index,
      sources: deps.sources,
    }),
  });
}

const service = serviceCommand(sidecarSpec, start);

/** The sidecar command (service + `verify-attestation` sub-verb). */
export const command = {
  ...service,
  usage: () => `${service.usage()}\n\n${VERIFY_USAGE}`,
  run: (argv: string[]) =>
    argv[0] === "verify-attestation" ? verifyAttestationCommand(argv.slice(1)) : service.run(argv),
};

// `deno run cmd/sidecar.ts ARGS` is `iatp sidecar ARGS` (cmd/run.ts: the launchers start it so).
if (import.meta.main) await runAsEntry("sidecar", command);
