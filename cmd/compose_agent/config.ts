/**
 * `iatp compose-agent` configuration. Upstream environment names (AGENT_ID, AGENT_TOKEN,
 * AGENT_SCOPES, VAULT_*, RATE_LIMIT_PER_MIN, ...) are kept so existing deployments carry over;
 * everything else is `IATP_COMPOSE_AGENT_*`.
 * @module
 */
import { serviceFields } from "../../core/http/mod.ts";
import {
  bool,
  bytes,
  DATA_DIR,
  defineConfig,
  duration,
  type Infer,
  int,
  list,
  num,
  oneOf,
  section,
  str,
} from "../../core/config/mod.ts";
import { ConfigError } from "../../core/errors/mod.ts";
import { agentAuthFields, checkReplayWindow, signedApiFields } from "../../core/hostagent/mod.ts";
import {
  DEFAULT_DOCKER_SOCKET,
  DEFAULT_MAX_COMPOSE_FILE_BYTES,
  DEFAULT_MAX_LOG_BYTES,
} from "../../core/docker/mod.ts";

/** The compose-agent declaration. */
export const composeAgentSpec = defineConfig({
  command: "compose-agent",
  summary: "Docker Compose host agent: signed command API and a container watchdog. " +
    "The only component that opens the Docker socket.",
  envPrefix: "IATP_COMPOSE_AGENT_",
  fields: {
    ...serviceFields(5001),
    ...agentAuthFields("compose_agent_token"),
    ...signedApiFields(),
    docker_socket: str({ help: "Docker Engine unix socket", default: DEFAULT_DOCKER_SOCKET }),
    compose: oneOf(["auto", "plugin", "v1"] as const, {
      help: "compose implementation: the docker compose plugin, docker-compose v1, or auto",
      default: "auto",
    }),
    replay_db: str({
      help: "replay store (SQLite)",
      default: `${DATA_DIR}/compose-agent/replay.sqlite`,
    }),
    projects_root: str({
      help: "deploy_app project_dir parameters resolve under this folder",
      default: `${DATA_DIR}/projects`,
    }),
    work_dir: str({
      help: "where inline compose files are kept",
      default: `${DATA_DIR}/compose-agent/apps`,
    }),
    command_timeout: duration({
      help: "deadline of one container command",
      default: 60_000,
      min: 100,
    }),
    deploy_timeout: duration({
      help: "deadline of deploy_app / remove_app",
      default: 300_000,
      min: 1000,
    }),
    max_log_bytes: bytes({
      help: "largest logs result",
      default: DEFAULT_MAX_LOG_BYTES,
      min: 1024,
    }),
    max_compose_file_bytes: bytes({
      help: "largest inline compose file",
      default: DEFAULT_MAX_COMPOSE_FILE_BYTES,
      min: 256,
    }),
    queue_size: int({
      help: "bound of the local command queue (enqueue/wait)",
      default: 100,
      min: 1,
    }),
    report_history: int({ help: "reports kept from /commands/report", default: 100, min: 1 }),
    max_wait: duration({ help: "longest long poll on /commands/wait", default: 60_000, min: 1000 }),
    watchdog: section({
      containers: list({ help: "container names the watchdog keeps up", default: [] }),
      label: str({ help: "label selector (key or key=value) of containers to keep up" }),
      check_interval: duration({ help: "time between checks", default: 30_000, min: 50 }),
      backoff_base: duration({ help: "first restart delay", default: 10_000 }),
      backoff_factor: num({ help: "restart delay multiplier", default: 1.5, min: 1, max: 10 }),
      max_attempts: int({ help: "restarts before giving up (then cool-down)", default: 5, min: 1 }),
      cooldown: duration({ help: "wait after giving up before retrying", default: 600_000 }),
      start_period: duration({
        help: "grace for unhealthy containers after start",
        default: 60_000,
      }),
      stable_after: duration({ help: "uptime that ends a restart round", default: 10_000 }),
      enabled: bool({
        help: "run the watchdog (when containers or a label are set)",
        default: true,
      }),
    }),
  },
  check: (c, sources) => {
    checkReplayWindow(c, sources);
    if (!c.agent_token && !c.vault.address) {
      throw new ConfigError(
        "agent_token",
        { kind: "env", name: "AGENT_TOKEN" },
        "an HMAC key (AGENT_TOKEN) or a Vault address (VAULT_ADDRESS)",
        "neither",
      );
    }
  },
});

/** The validated compose-agent config. */
export type ComposeAgentConfig = Infer<typeof composeAgentSpec.spec.fields>;
