/**
 * `iatp compose-agent` configuration: every setting is `IATP_COMPOSE_AGENT_<KEY>`. Of the
 * TryDirect status agent's env names it also reads only those no other command reads
 * (AGENT_SCOPES, RATE_LIMIT_PER_MIN, REPLAY_TTL_SECS, SIGNATURE_MAX_SKEW_SECS); AGENT_ID,
 * AGENT_TOKEN, DEPLOYMENT_HASH and VAULT_* belong to `iatp status`, the status panel's
 * replacement, so one host's environment cannot configure both agents by accident.
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
  MAX_AGE_MS,
  num,
  oneOf,
  path,
  section,
  str,
} from "../../core/config/mod.ts";
import { ConfigError } from "../../core/errors/mod.ts";
import {
  agentAuthFields,
  checkLiteralHmacKey,
  checkReplayWindow,
  signedApiFields,
  TRYDIRECT_UNUSED_KEYS,
} from "../../core/hostagent/mod.ts";
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
  fields: {
    ...serviceFields(5001),
    ...agentAuthFields("compose_agent_token"),
    ...signedApiFields(),
    docker_socket: path({
      help: "Docker Engine unix socket",
      default: DEFAULT_DOCKER_SOCKET,
      access: "write",
    }),
    compose: oneOf(["auto", "plugin", "v1"] as const, {
      help: "compose implementation: the docker compose plugin, docker-compose v1, or auto",
      default: "auto",
    }),
    replay_db: path({
      help: "replay store (SQLite)",
      default: `${DATA_DIR}/compose-agent/replay.sqlite`,
      access: "write",
    }),
    projects_root: path({
      help: "deploy_app project_dir parameters resolve under this folder",
      default: `${DATA_DIR}/projects`,
      access: "write",
    }),
    work_dir: path({
      help: "where inline compose files are kept",
      default: `${DATA_DIR}/compose-agent/apps`,
      access: "write",
    }),
    deploy_allow: section({
      privileged: bool({
        help: "deploy_app may run privileged containers (privileged, build.privileged)",
        default: false,
      }),
      host_namespaces: bool({
        help: "deploy_app may share the host's or another container's network, pid, ipc, uts, " +
          "userns or cgroup namespace, another container's volumes, and build from a remote " +
          "context (fetched from the host's network)",
        default: false,
      }),
      cap_add: list({
        help: "capabilities deploy_app's cap_add may name (NET_ADMIN...; ALL only when listed)",
        default: [],
        item: /^(CAP_)?[A-Za-z_]{2,40}$/,
      }),
      devices: bool({
        help:
          "deploy_app may pass host devices (devices, device_cgroup_rules, gpus) and mount host filesystems in named volumes (driver_opts.type proc, sysfs, a device...)",
        default: false,
      }),
      security_opt: bool({
        help: "deploy_app may weaken confinement: security_opt beyond no-new-privileges " +
          "(seccomp, apparmor...), cgroup_parent, a runtime other than runc, a negative " +
          "oom_score_adj",
        default: false,
      }),
      bind_roots: list({
        help: "absolute host folders deploy_app may bind-mount or read files from, beyond the " +
          "project's own folder (none by default)",
        default: [],
        item: /^\/[^\0]*$/,
      }),
      providers: list({
        help: "provider types deploy_app's services.*.provider.type may name (compose runs each " +
          "as a host program: the docker-<type> CLI plugin, else <type> on its PATH); model " +
          "also grants the top-level models (the docker model plugin). None by default",
        default: [],
        item: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
      }),
      log_drivers: list({
        help: "logging drivers deploy_app's logging.driver may name beyond json-file, local and " +
          "none (the others have the daemon send a container's output to an address or service " +
          "from the host)",
        default: [],
        item: /^[A-Za-z0-9][A-Za-z0-9_.:\/-]{0,127}$/,
      }),
      volumes: list({
        help: "existing volumes deploy_app's top-level volumes may name (external: true, or " +
          "name:); by default a compose file has only its project's own volumes",
        default: [],
        item: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/,
      }),
      networks: list({
        help: "existing networks deploy_app may join (a reverse proxy's...): top-level networks " +
          "naming one (external: true, or name:), network_mode: NAME (bridge for Docker's " +
          "default bridge), build.network: NAME; by default a compose file has only its " +
          "project's own networks",
        default: [],
        item: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/,
      }),
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
      cooldown: duration({
        help: "wait after giving up before retrying",
        default: 600_000,
        max: MAX_AGE_MS, // compared with the clock, not waited for
      }),
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
  // Its compose-agent mode starts with the panel's config.json too (`--config config.json
  // --compose-mode`), whose compose_agent_enabled and control_plane mean nothing here.
  tolerated: [...TRYDIRECT_UNUSED_KEYS, "compose_agent_enabled", "control_plane"],
  upstream: {
    system: "the TryDirect status agent's compose-agent mode",
    env: {
      scopes: "AGENT_SCOPES",
      rate_limit_per_min: "RATE_LIMIT_PER_MIN",
      replay_ttl: { name: "REPLAY_TTL_SECS", unit: "s" },
      signature_max_skew: { name: "SIGNATURE_MAX_SKEW_SECS", unit: "s" },
    },
  },
  deprecated: {
    flags: {
      replay_ttl: { name: "replay-ttl-secs", unit: "s" },
      signature_max_skew: { name: "signature-max-skew-secs", unit: "s" },
    },
    keys: {
      replay_ttl: { name: "replay_ttl_secs", unit: "s" },
      signature_max_skew: { name: "signature_max_skew_secs", unit: "s" },
    },
  },
  check: (c, sources) => {
    checkReplayWindow(c, sources);
    if (!c.agent_token && !c.vault.address) {
      throw new ConfigError(
        "agent_token",
        sources.get("agent_token") ?? { kind: "default" },
        "an HMAC key (agent_token) or a Vault address (vault.address)",
        "neither",
      );
    }
    checkLiteralHmacKey("agent_token", c.agent_token, sources);
  },
});

/** The validated compose-agent config. */
export type ComposeAgentConfig = Infer<typeof composeAgentSpec.spec.fields>;
