/**
 * What `iatp up` adds to the services it runs in one process: the credential set it issues and
 * wires (an issuer key and one least-scoped credential per service identity, kept in 0600 files
 * and reused across starts), and the demo (an echo agent and a stream of sample traffic that
 * shows allow, deny, block and warn on the dashboard).
 *
 * @example
 * ```ts
 * const creds = await ensureCredentials("data", log);
 * relayStart({ auth_keys: [creds.issuer.publicKey], ... });
 * const token = creds.token("dashboard");
 * ```
 * @module
 */
export {
  ensureCredentials,
  UP_IDENTITIES,
  type UpCredentials,
  type UpIdentity,
} from "./credentials.ts";
export {
  type DemoStep,
  demoSteps,
  type DemoTargets,
  runDemoTraffic,
  startDemoAgent,
} from "./demo.ts";
