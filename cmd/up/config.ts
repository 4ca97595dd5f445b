/** `iatp up` configuration: which services, their ports, the data dir and the demo. @module */
import {
  bool,
  DATA_DIR,
  defineConfig,
  duration,
  type Infer,
  list,
  oneOf,
  port,
  str,
} from "../../core/config/mod.ts";
import { LEVELS } from "../../core/log/mod.ts";

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
const UP_BACKENDS = ["postgres"] as const;

/** `iatp up` configuration. */
export const spec = defineConfig({
  command: "up",
  summary: "Runs the mesh in one process: relay, audit, policy, dashboard, a demo agent behind a " +
    "trusted and an untrusted sidecar, a sensor (cpu-monitor) and an action agent, plus demo " +
    "traffic. Prints the URLs; Ctrl-C stops everything cleanly.",
  envPrefix: "IATP_UP_",
  fields: {
    host: str({ help: "address every service listens on", default: "127.0.0.1" }),
    services: list({
      help: `services to start (${UP_SERVICES.join(",")})`,
      default: [...UP_SERVICES],
      item: new RegExp(`^(${UP_SERVICES.join("|")})$`),
    }),
    demo: bool({ help: "start the demo agent and demo traffic", default: true }),
    demo_interval: duration({ help: "pause between demo steps", default: 1500, min: 50 }),
    data_dir: str({
      help: "where audit, policy state and agent folders live",
      default: DATA_DIR,
      env: "IATP_DATA_DIR",
      minLength: 1,
    }),
    backend: list({
      help: `engines you run that keep the mesh's state instead of the data dir ` +
        `(${UP_BACKENDS.join(",")}: the audit ledger on postgres_url)`,
      default: [],
      item: new RegExp(`^(${UP_BACKENDS.join("|")})$`),
    }),
    postgres_url: str({ help: "postgres://user@host[:port]/database, for --backend postgres" }),
    postgres_password: str({
      help: "password for postgres_url, or file:PATH (else the one in the URL, if any)",
      secret: true,
    }),
    relay_port: port({ help: "relay port", default: 8005 }),
    policy_port: port({ help: "policy port", default: 8002 }),
    audit_port: port({ help: "audit port", default: 8003 }),
    dashboard_port: port({ help: "dashboard port", default: 8004 }),
    sidecar_port: port({ help: "trusted demo sidecar port", default: 8001 }),
    untrusted_sidecar_port: port({ help: "untrusted demo sidecar port", default: 8011 }),
    agent_port: port({ help: "demo agent port", default: 8000 }),
    sensor_port: port({ help: "sensor health port", default: 8086 }),
    action_port: port({ help: "action agent health port", default: 8087 }),
    log_level: oneOf(LEVELS, { help: "log level of every service", default: "warn" }),
  },
});

/** The resolved `up` config. */
export type UpConfig = Infer<typeof spec.spec.fields>;
