/** `iatp up` configuration: which services, their ports, the data dir and the demo. @module */
import {
  bool,
  DATA_DIR,
  defineConfig,
  duration,
  host,
  type Infer,
  list,
  oneOf,
  path,
  port,
  section,
  str,
  url,
} from "../../core/config/mod.ts";
import { ConfigError, type ConfigSource } from "../../core/errors/mod.ts";
import { LEVELS } from "../../core/log/mod.ts";
import { natsFields } from "../../core/nats/mod.ts";

/** The services `up` can start, in start order. */
const UP_SERVICES = [
  "relay",
  "audit",
  "policy",
  "dashboard",
  "sidecar",
  "sensor",
  "action",
] as const;

/** Engines `up --backend` can keep state on instead of the data dir. */
const UP_BACKENDS = ["nats", "postgres"] as const;

/** Every port `up` opens, as its offset from `--base-port` (8000 gives the usual ports). */
export const PORT_OFFSETS = {
  agent_port: 0,
  sidecar_port: 1,
  policy_port: 2,
  audit_port: 3,
  dashboard_port: 4,
  relay_port: 5,
  untrusted_sidecar_port: 11,
  sensor_port: 86,
  action_port: 87,
} as const;

/** A port setting of `up`. */
export type UpPort = keyof typeof PORT_OFFSETS;

const DEFAULT_BASE_PORT = 8000;

function portField(what: string, name: UpPort) {
  return port({ help: `${what} (default: base port + ${PORT_OFFSETS[name]})` });
}

/** `iatp up` configuration. */
export const spec = defineConfig({
  command: "up",
  summary: "Runs the mesh in one process: relay, audit, policy, dashboard, a demo agent behind a " +
    "trusted and an untrusted sidecar, a sensor (cpu-monitor) and an action agent, plus demo " +
    "traffic. Prints the URLs; Ctrl-C stops everything cleanly. With --no-demo, a selected " +
    "sidecar stands in front of --agent-url.",
  fields: {
    host: host({ help: "address every service listens on", default: "127.0.0.1" }),
    services: list({
      help: `services to start (${UP_SERVICES.join(",")})`,
      default: [...UP_SERVICES],
      item: new RegExp(`^(${UP_SERVICES.join("|")})$`),
      itemWhat: `services among ${UP_SERVICES.join(", ")}`,
    }),
    demo: bool({ help: "start the demo agent and demo traffic", default: true }),
    demo_interval: duration({ help: "pause between demo steps", default: 1500, min: 50 }),
    agent_url: url({
      help: "your agent, behind the sidecar when --services has sidecar and --no-demo is given",
    }),
    backend: list({
      help: `engines you run that keep the mesh's state instead of the data dir ` +
        `(nats: the relay's stream and the policy's shared queue on nats_url; postgres: the ` +
        `audit ledger on postgres_url)`,
      default: [],
      item: new RegExp(`^(${UP_BACKENDS.join("|")})$`),
    }),
    nats_url: str({
      help: "nats://HOST:4222[,HOST2...] (a NATS cluster with JetStream), for --backend nats",
      pattern: /^(nats|tls):\/\/.+$/,
      expected: "nats://HOST[:PORT][,HOST2[:PORT]...]",
    }),
    nats: section(natsFields()),
    postgres_url: str({ help: "postgres://user@host[:port]/database, for --backend postgres" }),
    postgres_password: str({
      help: "password for postgres_url, or file:PATH (else the one in the URL, if any)",
      secret: true,
      fileRef: true,
    }),
    data_dir: path({
      help: "where the ledger, policy state, credentials, keys and agent folders live",
      default: DATA_DIR,
      access: "write",
    }),
    base_port: port({
      help: "first port: every service's port is this plus its offset (0: free ports for all)",
      default: DEFAULT_BASE_PORT,
    }),
    relay_port: portField("relay port", "relay_port"),
    policy_port: portField("policy port", "policy_port"),
    audit_port: portField("audit port", "audit_port"),
    dashboard_port: portField("dashboard port", "dashboard_port"),
    sidecar_port: portField("trusted sidecar port", "sidecar_port"),
    untrusted_sidecar_port: portField("untrusted demo sidecar port", "untrusted_sidecar_port"),
    agent_port: portField("demo agent port", "agent_port"),
    sensor_port: portField("sensor health port", "sensor_port"),
    action_port: portField("action agent health port", "action_port"),
    log_level: oneOf(LEVELS, { help: "log level of every service", default: "warn" }),
  },
  check(c, sources) {
    const top = Math.max(...Object.values(PORT_OFFSETS));
    if (c.base_port !== 0 && c.base_port + top > 65535) {
      throw new ConfigError(
        "base_port",
        sources.get("base_port") ?? { kind: "default" },
        `a port from 1 to ${65535 - top} (the highest service port is base + ${top}), or 0`,
        String(c.base_port),
      );
    }
    checkPortsDistinct(c, sources);
    for (const engine of ["nats", "postgres"] as const) {
      if (c.backend.includes(engine) && c[`${engine}_url`] === undefined) {
        throw missingUrl(engine, sources.get(`${engine}_url`));
      }
    }
    if (!c.demo && c.services.includes("sidecar") && !c.agent_url) {
      throw new ConfigError(
        "agent_url",
        sources.get("agent_url") ?? { kind: "default" },
        "the URL of the agent the sidecar stands in front of when --services has sidecar " +
          "and the demo agent is off (--no-demo)",
        "nothing",
      );
    }
  },
  // Each engine's credentials are read only with its backend.
  unreadFileRefs: (c) => [
    ...(c.backend.includes("nats") ? [] : ["nats.password", "nats.token"]),
    ...(c.backend.includes("postgres") ? [] : ["postgres_password"]),
  ],
});

/**
 * The error of an engine `--backend` names without its URL setting.
 * @example
 * ```ts
 * missingUrl("nats").message; // "nats_url (default): expected a nats:// URL when ..."
 * ```
 */
export function missingUrl(engine: "nats" | "postgres", source?: ConfigSource): ConfigError {
  return new ConfigError(
    `${engine}_url`,
    source ?? { kind: "default" },
    `a ${engine}:// URL when --backend names ${engine}`,
    "unset",
  );
}

/** The port settings of the listeners `up` opens with these services and demo choice. */
function portsOpened(c: UpConfig): UpPort[] {
  const has = (s: (typeof UP_SERVICES)[number]) => c.services.includes(s);
  const out: UpPort[] = [];
  for (const s of ["relay", "audit", "policy", "dashboard"] as const) {
    if (has(s)) out.push(`${s}_port`);
  }
  if (c.demo) out.push("agent_port");
  if (has("sidecar")) {
    out.push("sidecar_port", ...(c.demo ? ["untrusted_sidecar_port"] as const : []));
  }
  if (has("sensor")) out.push("sensor_port");
  if (has("action")) out.push("action_port");
  return out;
}

/**
 * Two listeners of `up` on one port stop the start before anything is opened, naming the setting
 * given a value of its own (the other follows `--base-port`), rather than one service failing to
 * listen on a port its sibling took.
 */
function checkPortsDistinct(c: UpConfig, sources: { get(key: string): ConfigSource | undefined }) {
  const own = (name: UpPort) => {
    const s = sources.get(name);
    return s !== undefined && s.kind !== "default";
  };
  const taken = new Map<number, UpPort>();
  for (const name of portsOpened(c)) {
    const p = portOf(c, name);
    if (p === 0) continue; // a free port of the system's choosing
    const other = taken.get(p);
    if (other === undefined) {
      taken.set(p, name);
      continue;
    }
    const [blamed, also] = own(name) || !own(other) ? [name, other] : [other, name];
    const how = own(also) ? "" : ` (base port + ${PORT_OFFSETS[also]})`;
    throw new ConfigError(
      blamed,
      sources.get(blamed) ?? { kind: "default" },
      "a port no other service of iatp up listens on",
      `${p}, the ${also} too${how}`,
    );
  }
}

/** The resolved `up` config. */
export type UpConfig = Infer<typeof spec.spec.fields>;

/**
 * The port `name` listens on: its own setting, else the base port plus its offset (0 for
 * every service when the base is 0).
 * @example
 * ```ts
 * portOf({ base_port: 9000, relay_port: undefined } as UpConfig, "relay_port"); // 9005
 * ```
 */
export function portOf(c: UpConfig, name: UpPort): number {
  return c[name] ?? (c.base_port === 0 ? 0 : c.base_port + PORT_OFFSETS[name]);
}
