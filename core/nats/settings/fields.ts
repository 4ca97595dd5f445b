/**
 * The engine's connection settings, shared by every service that can run on NATS JetStream (a
 * `nats` section: `--nats-user`, `IATP_RELAY_NATS_PASSWORD`, `nats.creds` in YAML).
 * @module
 */
import { bytes, duration, path, str } from "../../config/mod.ts";

/** How to reach the engine. */
export interface NatsSettings {
  /** `nats://host:4222[,host2:4222...]` (or `tls://`); userinfo in it is honoured, never shown. */
  url: string;
  user?: string;
  password?: string;
  token?: string;
  /** Path of a `.creds` file (JWT and NKey seed). */
  creds?: string;
  /** PEM files: CA bundle to trust, and a client certificate and key for mutual TLS. */
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Time to connect at start, and the default for one JetStream request. */
  timeoutMs: number;
  /** Connection name, seen in the server's monitoring. */
  name: string;
  /**
   * Longest protocol line taken from a server (core/nats/guard.ts).
   * @default DEFAULT_NATS_MAX_CONTROL_LINE
   */
  maxControlLine?: number;
}

/** Default of `nats.max_control_line`: the longest protocol line taken from a server. */
export const DEFAULT_NATS_MAX_CONTROL_LINE = 64 * 1024;

/** Default time to connect and to wait for one JetStream answer. */
export const DEFAULT_NATS_TIMEOUT_MS = 5_000;

/** The fields of a `nats` section (the server URL is the service's own `store` setting). */
export function natsFields() {
  return {
    user: str({ help: "NATS user name (with nats.password)" }),
    password: str({ help: "NATS password, or file:PATH", secret: true, fileRef: true }),
    token: str({ help: "NATS authentication token, or file:PATH", secret: true, fileRef: true }),
    creds: path({ help: "NATS credentials file (.creds: user JWT and NKey seed)", access: "read" }),
    tls_ca: path({
      help: "PEM file of the CA that signed the NATS servers' certificates",
      access: "read",
    }),
    tls_cert: path({
      help: "PEM client certificate for NATS mutual TLS (with nats.tls_key)",
      access: "read",
    }),
    tls_key: path({ help: "PEM private key of nats.tls_cert", access: "read" }),
    timeout: duration({
      help: "time to connect to NATS and to wait for one JetStream answer",
      default: DEFAULT_NATS_TIMEOUT_MS,
      min: 100,
    }),
    max_control_line: bytes({
      help: "longest protocol line (INFO, a message's MSG line) taken from a NATS server; a " +
        "longer one, a message over 64 MiB or a line that is not NATS protocol closes the " +
        "connection, which is made again",
      default: DEFAULT_NATS_MAX_CONTROL_LINE,
      min: 4096,
    }),
  };
}

/** A `nats` section's values, secrets already resolved (file:PATH read). */
export interface NatsSection {
  user: string | undefined;
  password: string | undefined;
  token: string | undefined;
  creds: string | undefined;
  tls_ca: string | undefined;
  tls_cert: string | undefined;
  tls_key: string | undefined;
  timeout: number;
  max_control_line: number;
}

/**
 * The connection settings of `url` and a `nats` section.
 *
 * @example
 * ```ts
 * natsSettings("nats://127.0.0.1:4222", section, "iatp-relay").timeoutMs; // 5000
 * ```
 */
export function natsSettings(url: string, s: NatsSection, name: string): NatsSettings {
  const opt = <K extends string, V>(k: K, v: V | undefined) =>
    v === undefined ? {} : { [k]: v } as Record<K, V>;
  return {
    url,
    name,
    timeoutMs: s.timeout,
    maxControlLine: s.max_control_line,
    ...opt("user", s.user),
    ...opt("password", s.password),
    ...opt("token", s.token),
    ...opt("creds", s.creds),
    ...opt("tlsCa", s.tls_ca),
    ...opt("tlsCert", s.tls_cert),
    ...opt("tlsKey", s.tls_key),
  };
}
