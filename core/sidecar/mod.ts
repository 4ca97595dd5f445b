/**
 * The IATP trust sidecar: a proxy in front of one agent that publishes a signed capability
 * manifest and attestation, scans every request for cards and SSNs, decides allow / warn 449 /
 * block 403 from the trust score, forwards over a strict HTTP/1.1 client, and keeps a flight
 * recorder fanned out to the relay and the audit ledger. Also the check of another sidecar's
 * attestation.
 *
 * @example
 * ```ts
 * const svc = await startSidecarServer({ ...options, agentUrl: "http://127.0.0.1:8000" });
 * await svc.close();
 * ```
 * @module
 */
export {
  type AttestationCheckOptions,
  type CheckedAttestation,
  checkRemoteAttestation,
} from "./attestation_check.ts";
export type { EventSinkOptions } from "./events.ts";
export type { IdentityOptions } from "./identity.ts";
export type { ProxyLimits } from "./proxy.ts";
export {
  type SidecarClusterOptions,
  type SidecarWorkerShared,
  startSidecarCluster,
  startSidecarWorker,
} from "./cluster.ts";
export {
  type SidecarOptions,
  type SidecarRole,
  startSidecarServer,
  type TraceBook,
} from "./server.ts";
