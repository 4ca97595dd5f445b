/**
 * `iatp sidecar` configuration: every setting is `IATP_SIDECAR_<KEY>`; the IATP sidecars' own
 * env names (`IATP_AGENT_URL`, `IATP_PORT`, ...) are read too, by this command only, with their
 * upstream defaults; the bounds; and an optional manifest file (`--manifest`, either IATP
 * shape, see manifest_file.ts) whose values apply wherever no flag, env var or config key set one.
 * @module
 */
import {
  type AliasMap,
  bool,
  bytes,
  defineConfig,
  duration,
  type Infer,
  int,
  lateImport,
  list,
  MAX_AGE_MS,
  oneOf,
  parentDir,
  path,
  str,
  url,
} from "../../core/config/mod.ts";
import { meshAuthFields } from "../../core/auth/mod.ts";
import { workersField } from "../../core/cluster/mod.ts";
import { ConfigError, type ConfigSource } from "../../core/errors/mod.ts";
import { serviceFields } from "../../core/http/mod.ts";
import { DEFAULT_MAX_JSON_DEPTH } from "../../core/pii/mod.ts";
import {
  DEFAULT_JSONL_MAX_BYTES,
  DEFAULT_SHARED_BACKLOG,
  DEFAULT_SHARED_COMMAND_TIMEOUT_MS,
  DEFAULT_SHARED_CONNECT_TIMEOUT_MS,
  DEFAULT_SHARED_TRACE_CAP,
  DEFAULT_SHARED_TTL_MS,
  DEFAULT_STORE_MAX_ROWS,
  DEFAULT_TRACE_CAPACITY,
} from "../../core/recorder/mod.ts";
import { auditFlushField, auditTimeoutField } from "../../core/ledger/client/settings/mod.ts";
import { relayFlushField, relayTimeoutField } from "../../core/relay/client/settings/mod.ts";
import { RETENTION_POLICIES, REVERSIBILITY_LEVELS, TRUST_LEVELS } from "../../core/trust/mod.ts";

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
  manifest: path({
    help: "manifest file, YAML or JSON, Go nested or Python flat shape",
    access: "read",
  }),
  override_token: str({
    help: "secret X-User-Override value (>= 16 chars), or file:PATH",
    secret: true,
    fileRef: true,
  }),
  legacy_override: bool({ help: "also accept X-User-Override: true (unsafe)", default: false }),
  upstream_timeout: duration({ help: "agent timeout (504 after)", default: 30_000, min: 1 }),
  trace_capacity: int({ help: "records kept in memory", default: DEFAULT_TRACE_CAPACITY, min: 1 }),
  trace_payload_bytes: bytes({ help: "payload characters kept per record", default: 4096, min: 0 }),
  recorder_file: path({
    help:
      "durable recorder: .db/.sqlite (SQLite) or JSONL file (rotated to <file>.1 at recorder_max_bytes)",
    access: "write",
    siblings: [".1"],
  }),
  recorder_max_rows: int({
    help: "rows kept in a SQLite recorder",
    default: DEFAULT_STORE_MAX_ROWS,
    min: 1,
  }),
  recorder_max_bytes: bytes({
    help: "size a JSONL recorder file grows to before it is rotated to <file>.1 (the two " +
      "files hold at most twice this, and one batch of records more)",
    default: DEFAULT_JSONL_MAX_BYTES,
    min: 4096,
  }),
  recorder_url: str({
    help: "redis://[user@]host[:port][/db]: flight recorder shared by replicas (any replica " +
      "answers /trace/{id})",
  }),
  recorder_password: str({
    help: "password for recorder_url, or file:PATH (else the one in the URL, if any)",
    secret: true,
    fileRef: true,
  }),
  recorder_ttl: duration({
    help: "how long a shared trace is kept after its last record",
    default: DEFAULT_SHARED_TTL_MS,
    min: 1000,
    max: MAX_AGE_MS, // a Redis TTL, not a timer
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
    default: DEFAULT_SHARED_CONNECT_TIMEOUT_MS,
    min: 100,
  }),
  recorder_command_timeout: duration({
    help: "wait for one Redis write or lookup (a lookup past it answers 503)",
    default: DEFAULT_SHARED_COMMAND_TIMEOUT_MS,
    min: 100,
  }),
  relay_url: url({ help: "relay to publish recorder events to (topic iatp.trace)" }),
  relay_token: str({
    help: "credential for the relay (publish:iatp.trace), or file:PATH",
    secret: true,
    fileRef: true,
  }),
  relay_timeout: relayTimeoutField(),
  relay_flush_timeout: relayFlushField(),
  audit_url: url({ help: "audit ledger to append decisions to" }),
  audit_token: str({
    help: "credential for the audit ledger (audit:append), or file:PATH",
    secret: true,
    fileRef: true,
  }),
  audit_timeout: auditTimeoutField(),
  audit_flush_timeout: auditFlushField(),
  signing_key: str({
    help: "Ed25519 seed, base64 of 32 bytes, or file:PATH (a key is generated when unset)",
    secret: true,
    fileRef: true,
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
  attestation_ttl: duration({
    help: "attestation validity",
    default: 24 * 3_600_000,
    min: 60_000,
    max: MAX_AGE_MS, // compared with the clock, not waited for
  }),
  workers: workersField("the sidecar"),
};

/** The sidecar's config shape. */
export type SidecarShape = typeof fields;
/** A loaded sidecar config. */
export type SidecarConfig = Infer<SidecarShape>;

/**
 * The IATP sidecars' env names (the Go sidecar's, the Python sidecar's override token, and the
 * manifest names of the flat Python shape), read after `IATP_SIDECAR_<KEY>`.
 */
const UPSTREAM_ENV: AliasMap = {
  agent_url: "IATP_AGENT_URL",
  host: "IATP_HOST",
  port: "IATP_PORT",
  agent_id: "IATP_AGENT_ID",
  trust_level: "IATP_TRUST_LEVEL",
  reversibility: "IATP_REVERSIBILITY",
  retention: "IATP_RETENTION",
  human_in_loop: "IATP_HUMAN_IN_LOOP",
  training_consent: "IATP_TRAINING_CONSENT",
  override_token: ["IATP_OVERRIDE_TOKEN", "IATP_TRUSTED_USER_OVERRIDE_TOKEN"],
  legacy_override: "IATP_LEGACY_OVERRIDE",
  owner: "IATP_OWNER",
  agent_version: "IATP_AGENT_VERSION",
  rate_limit: "IATP_RATE_LIMIT",
  storage_location: "IATP_STORAGE_LOCATION",
  encryption_at_rest: "IATP_ENCRYPTION_AT_REST",
  encryption_in_transit: "IATP_ENCRYPTION_IN_TRANSIT",
  scopes: "IATP_SCOPES",
  idempotency: "IATP_IDEMPOTENCY",
  concurrency_limit: "IATP_CONCURRENCY_LIMIT",
  sla_latency_ms: "IATP_SLA_LATENCY_MS",
  undo_window_seconds: "IATP_UNDO_WINDOW_SECONDS",
  compensation_method: "IATP_COMPENSATION_METHOD",
  manifest: "IATP_MANIFEST",
};

/**
 * The other `IATP_<KEY>` names this command read before the scheme, kept one release. Those
 * that sit in another command's namespace (`IATP_RELAY_URL`, `IATP_AUDIT_TOKEN`, ...) are not
 * read at all: a relay's operator would take them for relay settings.
 */
const DEPRECATED_ENV: AliasMap = {
  max_body_bytes: "IATP_MAX_BODY_BYTES",
  header_timeout: "IATP_HEADER_TIMEOUT",
  body_timeout: "IATP_BODY_TIMEOUT",
  idle_timeout: "IATP_IDLE_TIMEOUT",
  max_connections: "IATP_MAX_CONNECTIONS",
  max_header_bytes: "IATP_MAX_HEADER_BYTES",
  max_url_bytes: "IATP_MAX_URL_BYTES",
  max_header_fields: "IATP_MAX_HEADER_FIELDS",
  tls_cert_file: "IATP_TLS_CERT_FILE",
  tls_key_file: "IATP_TLS_KEY_FILE",
  drain_timeout: "IATP_DRAIN_TIMEOUT",
  log_level: "IATP_LOG_LEVEL",
  auth_keys: "IATP_AUTH_KEYS",
  auth_revoked: "IATP_AUTH_REVOKED",
  insecure: "IATP_INSECURE",
  upstream_timeout: { name: "IATP_UPSTREAM_TIMEOUT_MS", unit: "ms" },
  trace_capacity: "IATP_TRACE_CAPACITY",
  trace_payload_bytes: "IATP_TRACE_PAYLOAD_BYTES",
  recorder_file: "IATP_RECORDER_FILE",
  recorder_max_rows: "IATP_RECORDER_MAX_ROWS",
  signing_key: "IATP_SIGNING_KEY",
  forward_headers: "IATP_FORWARD_HEADERS",
  max_json_depth: "IATP_MAX_JSON_DEPTH",
  attestation_ttl: "IATP_ATTESTATION_TTL",
};

/** The sidecar's config declaration. */
export const sidecarSpec = defineConfig({
  command: "sidecar",
  summary: "IATP trust proxy in front of an agent: signed manifest, attestation, PII blocking, " +
    "trust score, flight recorder.",
  usageLines: ["verify-attestation URL [--public-key ed25519:BASE64] [--timeout DURATION]"],
  fields,
  upstream: { system: "the IATP sidecars (Go and Python)", env: UPSTREAM_ENV },
  deprecated: {
    env: DEPRECATED_ENV,
    flags: { upstream_timeout: { name: "upstream-timeout-ms", unit: "ms" } },
    keys: {
      upstream_timeout: { name: "upstream_timeout_ms", unit: "ms" },
      override_token: "trusted_user_override_token",
    },
  },
  // The shared recorder's password is read only with its Redis URL.
  unreadFileRefs: (c) => c.recorder_url ? [] : ["recorder_password"],
  check: (config, sources, warn) => {
    checkRecorderFile(config.recorder_file, sources.get("recorder_file"));
    // The manifest file's reader (YAML and zod, about 12 MB idle) loads only when one is named,
    // by a computed specifier (a string-literal `import()` makes Deno read zod's registry data at
    // every start).
    return config.manifest
      ? lateImport<typeof import("./manifest_file.ts")>("./manifest_file.ts", import.meta.url)
        .then((m) => m.applyManifestFile(config as Record<string, unknown>, sources, warn))
      : undefined;
  },
});

/**
 * A durable recorder file must be a regular file in a folder that exists (the sidecar creates the
 * file, never its folder), so a mistyped path fails at start naming the setting. A pipe (FIFO)
 * held the sidecar: once its buffer filled, with no reader or a slow one, a write waited, and the
 * isolate with it, for good; a device (`/dev/zero`, `/dev/null`) took the records and kept none.
 * @throws {ConfigError} naming `recorder_file` when its folder is missing, or it is a folder, a
 * pipe or a device
 */
function checkRecorderFile(file: string | undefined, source: ConfigSource | undefined): void {
  if (!file) return;
  const bad = (expected: string) =>
    new ConfigError("recorder_file", source ?? { kind: "default" }, expected, file);
  const kind = (p: string): "dir" | "file" | "special" | "none" | "unknown" => {
    try {
      const info = Deno.statSync(p);
      return info.isDirectory ? "dir" : info.isFile ? "file" : "special";
    } catch (err) {
      return err instanceof Deno.errors.NotFound ? "none" : "unknown";
    }
  };
  const found = kind(file);
  if (found === "dir") throw bad("a file, not a folder");
  if (found === "special") throw bad("a regular file, not a pipe (FIFO) or a device");
  if (kind(parentDir(file)) === "none") throw bad("a file in a folder that exists");
}
