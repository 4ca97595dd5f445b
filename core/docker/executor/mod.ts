/**
 * The host agents' command executor: container commands and compose apps run against the Docker
 * Engine, each command's parameters parsed against its schema, and `deploy_app`'s compose file
 * checked against the operator's allow-list first. Loaded with an agent's first command (it
 * brings zod and yaml with it); the client, the watchdog and the wire types are core/docker, the
 * command parser core/docker/parse.
 * @module
 */
export { DockerExecutor, type PreparedCommand } from "./executor.ts";
export { DEFAULT_DEPLOY_ALLOW, type DeployAllow, DeployPolicy } from "./deploy_policy.ts";
export { type CommandReport, parseCommand, parseReport } from "../parse/mod.ts";
export {
  type ComposeFlavor,
  ComposeRunner,
  type HealthGate,
  type ServiceState,
} from "./compose.ts";
