/**
 * `iatp sidecar`: the IATP trust proxy in front of an agent, and
 * `iatp sidecar verify-attestation URL` to check another sidecar's attestation.
 * @module
 */
import { serviceCommand } from "./shared.ts";
import { type SidecarConfig, sidecarSpec } from "./sidecar/config.ts";
import { start } from "./sidecar/server.ts";
import { VERIFY_USAGE, verifyAttestationCommand } from "./sidecar/verify.ts";

export { start } from "./sidecar/server.ts";
export type { SidecarConfig };

const service = serviceCommand(sidecarSpec, start);

/** The sidecar command (service + `verify-attestation` sub-verb). */
export const command = {
  ...service,
  usage: () => `${service.usage()}\n\n${VERIFY_USAGE}`,
  run: (argv: string[]) =>
    argv[0] === "verify-attestation" ? verifyAttestationCommand(argv.slice(1)) : service.run(argv),
};
