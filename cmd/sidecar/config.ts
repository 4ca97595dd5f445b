/**
 * `iatp sidecar` configuration: the upstream env names (`IATP_AGENT_URL`, `IATP_PORT`, ...)
 * with their upstream defaults, the bounds, and an optional manifest file (`--manifest`, either
 * IATP shape, see manifest_file.ts) whose values apply wherever no flag, env var or config key
 * set one.
 * @module
 */
import {
  bool,
  bytes,
  defineConfig,
  duration,
  type Infer,
  int,
  list,
  oneOf,
  str,
  url,
} from "../../core/config/mod.ts";
import { meshAuthFields } from "../../core/auth/mod.ts";
import { serviceFields } from "../../core/http/mod.ts";
import { DEFAULT_MAX_JSON_DEPTH } from "../../core/pii/mod.ts";
import {
  DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
  DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
} from "../../core/engine/mod.ts";
import {
  DEFAULT_SHARED_BACKLOG,
  DEFAULT_SHARED_TRACE_CAP,
  DEFAULT_SHARED_TTL_MS,
  DEFAULT_STORE_MAX_ROWS,
  DEFAULT_TRACE_CAPACITY,
} from "../../core/recorder/mod.ts";
import { RETENTION_POLICIES, REVERSIBILITY_LEVELS, TRUST_LEVELS } from "../../core/trust/mod.ts";
import { applyManifestFile } from "./manifest_file.ts";

/** Request headers forwarded to the agent by default (besides content type and trace id). */
const DEFAULT_FORWARD_HEADERS = [
  "accept",
  "accept-language",
  "user-agent",
  "traceparent",
  "tracestate",
  "baggage",
  "x-request-id",
];

const fields = {
  ...serviceFields(8001),
  ...meshAuthFields(),
  agent_url: url({ help: "the agent behind the sidecar", default: "http://localhost:8000" }),
  agent_id: str({ help: "agent identifier", default: "default-agent", minLength: 1 }),
  trust_level: oneOf(TRUST_LEVELS, { help: "declared trust level", default: "standard" }),
  reversibility: oneOf(REVERSIBILITY_LEVELS, { help: "can actions be undone", default: "partial" }),
  retention: oneOf(RETENTION_POLICIES, {
    help: "how long the agent keeps data",
    default: "temporary",
  }),
  human_in_loop: bool({ help: "humans review requests", default: false }),
  training_consent: bool({ help: "requests may be used for training", default: false }),
  owner: str({ help: "owner shown in the manifest identity (default: the agent id)" }),
  agent_version: str({ help: "manifest agent_version" }),
  rate_limit: int({ help: "manifest capabilities.rate_limit (requests per minute)", min: 1 }),
  storage_location: str({ help: "manifest storage_location (where the agent keeps data)" }),
  encryption_at_rest: bool({ help: "the agent encrypts the data it stores", default: false }),
  encryption_in_transit: bool({
    help: "data reaches the agent encrypted (TLS on every hop)",
    default: false,
  }),
  scopes: list({ help: "scopes the agent declares", default: [] }),
  idempotency: bool({ help: "agent handles duplicate requests safely", default: true }),
  concurrency_limit: int({ help: "manifest concurrency_limit", default: 100, min: 1 }),
  sla_latency_ms: int({ help: "manifest sla_latency_ms", default: 2000, min: 0 }),
  undo_window_seconds: int({ help: "manifest undo_window_seconds", default: 3600, min: 0 }),
  compensation_method: str({ help: "manifest compensation_method" }),
  manifest: str({ help: "manifest file, YAML or JSON, Go nested or Python flat shape" }),
  override_token: str({ help: "secret X-User-Override value (>= 16 chars)", secret: true }),
  trusted_user_override_token: str({
    help: "Python sidecar name for override_token",
    secret: true,
    env: "IATP_TRUSTED_USER_OVERRIDE_TOKEN",
    flag: false,
  }),
  legacy_override: bool({ help: "also accept X-User-Override: true (unsafe)", default: false }),
  upstream_timeout_ms: int({ help: "agent timeout (504 after)", default: 30_000, min: 1 }),
  trace_capacity: int({ help: "records kept in memory", default: DEFAULT_TRACE_CAPACITY, min: 1 }),
  trace_payload_bytes: bytes({ help: "payload characters kept per record", default: 4096, min: 0 }),
  recorder_file: str({ help: "durable recorder: .db/.sqlite (SQLite) or JSONL file" }),
  recorder_max_rows: int({
    help: "rows kept in a SQLite recorder",
    default: DEFAULT_STORE_MAX_ROWS,
    min: 1,
  }),
  recorder_url: str({
    help: "redis://[user@]host[:port][/db]: flight recorder shared by replicas (any replica " +
      "answers /trace/{id})",
  }),
  recorder_password: str({
    help: "password for recorder_url, or file:PATH (else the one in the URL, if any)",
    secret: true,
  }),
  recorder_ttl: duration({
    help: "how long a shared trace is kept after its last record",
    default: DEFAULT_SHARED_TTL_MS,
    min: 1000,
  }),
  recorder_trace_cap: int({
    help: "newest records kept per shared trace",
    default: DEFAULT_SHARED_TRACE_CAP,
    min: 1,
  }),
  recorder_backlog: int({
    help: "records waiting for Redis (in flight or while it is unreachable) before new ones " +
      "are dropped",
    default: DEFAULT_SHARED_BACKLOG,
    min: 1,
  }),
  recorder_connect_timeout: duration({
    help: "wait for the recorder's Redis connection",
    default: DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
    min: 100,
  }),
  recorder_command_timeout: duration({
    help: "wait for one Redis write or lookup (a lookup past it answers 503)",
    default: DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
    min: 100,
  }),
  relay_url: url({ help: "relay to publish recorder events to (topic iatp.trace)" }),
  relay_token: str({
    help: "credential for the relay (publish:iatp.trace), or file:PATH",
    secret: true,
  }),
  audit_url: url({ help: "audit ledger to append decisions to" }),
  audit_token: str({
    help: "credential for the audit ledger (audit:append), or file:PATH",
    secret: true,
  }),
  signing_key: str({
    help: "Ed25519 seed, base64 of 32 bytes (generated when unset)",
    secret: true,
  }),
  forward_headers: list({
    help: "request headers forwarded to the agent",
    default: DEFAULT_FORWARD_HEADERS,
    item: /^[A-Za-z0-9-]+$/,
  }),
  max_json_depth: int({
    help: "deepest JSON nesting accepted",
    default: DEFAULT_MAX_JSON_DEPTH,
    min: 1,
    max: 10_000,
  }),
  attestation_ttl: duration({ help: "attestation validity", default: 24 * 3_600_000, min: 60_000 }),
};

/** The sidecar's config shape. */
export type SidecarShape = typeof fields;
/** A loaded sidecar config. */
export type SidecarConfig = Infer<SidecarShape>;

/** The sidecar's config declaration. */
export const sidecarSpec = defineConfig({
  command: "sidecar",
  summary: "IATP trust proxy in front of an agent: signed manifest, attestation, PII blocking, " +
    "trust score, flight recorder.",
  envPrefix: "IATP_",
  usageLines: ["verify-attestation URL [--public-key ed25519:BASE64] [--config-hash HEX]"],
  fields,
  check: (config, sources) => applyManifestFile(config as Record<string, unknown>, sources),
});
