/**
 * `iatp sidecar` configuration: the upstream env names (`IATP_AGENT_URL`, `IATP_PORT`, ...)
 * with their upstream defaults, the bounds, and an optional YAML manifest file (`--manifest`,
 * the Go nested shape) whose values apply wherever no flag, env var or config key set one.
 * @module
 */
import { isMap, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import {
  bool,
  bytes,
  defineConfig,
  duration,
  type Infer,
  int,
  list,
  oneOf,
  type SourceMap,
  str,
  url,
} from "../../core/config/mod.ts";
import { meshAuthFields } from "../../core/auth/config.ts";
import { serviceFields } from "../../core/config/common.ts";
import { ConfigError } from "../../core/errors/mod.ts";
import { DEFAULT_MAX_JSON_DEPTH } from "../../core/pii/mod.ts";
import { DEFAULT_TRACE_CAPACITY } from "../../core/recorder/mod.ts";
import { DEFAULT_STORE_MAX_ROWS } from "../../core/recorder/store.ts";
import { RETENTION_POLICIES, REVERSIBILITY_LEVELS, TRUST_LEVELS } from "../../core/trust/mod.ts";

/** Request headers forwarded to the agent by default (besides content type and trace id). */
export const DEFAULT_FORWARD_HEADERS = [
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
  owner: str({ help: "owner shown in the manifest identity" }),
  scopes: list({ help: "scopes the agent declares", default: [] }),
  idempotency: bool({ help: "agent handles duplicate requests safely", default: true }),
  concurrency_limit: int({ help: "manifest concurrency_limit", default: 100, min: 1 }),
  sla_latency_ms: int({ help: "manifest sla_latency_ms", default: 2000, min: 0 }),
  undo_window_seconds: int({ help: "manifest undo_window_seconds", default: 3600, min: 0 }),
  compensation_method: str({ help: "manifest compensation_method" }),
  manifest: str({ help: "YAML manifest file (Go nested shape)" }),
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
  check: (config, sources) => applyManifestFile(config, sources),
});

const manifestSchema = z.strictObject({
  protocol_version: z.string().optional(),
  trust_score: z.number().optional(),
  identity: z.strictObject({
    agent_id: z.string().min(1).optional(),
    owner: z.string().optional(),
    verification_key: z.string().optional(),
  }).optional(),
  trust_level: z.enum(TRUST_LEVELS).optional(),
  capabilities: z.strictObject({
    idempotency: z.boolean().optional(),
    concurrency_limit: z.number().int().min(1).optional(),
    sla_latency_ms: z.number().int().min(0).optional(),
  }).optional(),
  reversibility: z.strictObject({
    level: z.enum(REVERSIBILITY_LEVELS).optional(),
    undo_window_seconds: z.number().int().min(0).optional(),
    compensation_method: z.string().optional(),
  }).optional(),
  privacy: z.strictObject({
    retention_policy: z.enum(RETENTION_POLICIES).optional(),
    human_in_loop: z.boolean().optional(),
    training_consent: z.boolean().optional(),
  }).optional(),
  scopes: z.array(z.string().min(1)).optional(),
});

type ManifestFile = z.infer<typeof manifestSchema>;

/** Config key <- manifest file path. */
const MAPPING: Array<[keyof SidecarConfig, (m: ManifestFile) => unknown]> = [
  ["agent_id", (m) => m.identity?.agent_id],
  ["owner", (m) => m.identity?.owner],
  ["trust_level", (m) => m.trust_level],
  ["idempotency", (m) => m.capabilities?.idempotency],
  ["concurrency_limit", (m) => m.capabilities?.concurrency_limit],
  ["sla_latency_ms", (m) => m.capabilities?.sla_latency_ms],
  ["reversibility", (m) => m.reversibility?.level],
  ["undo_window_seconds", (m) => m.reversibility?.undo_window_seconds],
  ["compensation_method", (m) => m.reversibility?.compensation_method],
  ["retention", (m) => m.privacy?.retention_policy],
  ["human_in_loop", (m) => m.privacy?.human_in_loop],
  ["training_consent", (m) => m.privacy?.training_consent],
  ["scopes", (m) => m.scopes],
];

/** Reads and validates a manifest file; errors name the key and line. */
export function loadManifestFile(path: string, read = Deno.readTextFileSync): ManifestFile {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).message;
    throw new ConfigError("manifest", { kind: "file", path }, "a readable YAML manifest", why);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const line = lc.linePos(doc.errors[0].pos[0]).line;
    throw new ConfigError("manifest", { kind: "file", path, line }, "valid YAML", "a syntax error");
  }
  if (!isMap(doc.contents)) {
    throw new ConfigError("manifest", { kind: "file", path }, "a YAML mapping", "another document");
  }
  const parsed = manifestSchema.safeParse(doc.toJS());
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const keys = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0]] : issue.path;
  const node = doc.getIn(keys as PropertyKey[] as string[], true) as
    | { range?: number[] }
    | undefined;
  const line = node?.range ? lc.linePos(node.range[0]).line : undefined;
  throw new ConfigError(
    `manifest.${keys.map(String).join(".")}`,
    { kind: "file", path, line },
    issue.message,
    issue.code === "unrecognized_keys" ? "an unknown key" : "an invalid value",
  );
}

function applyManifestFile(config: SidecarConfig, sources: SourceMap): void {
  const path = config.manifest as string | undefined;
  if (!path) return;
  const manifest = loadManifestFile(path);
  const target = config as Record<string, unknown>;
  for (const [key, get] of MAPPING) {
    const value = get(manifest);
    if (value === undefined) continue;
    // Precedence: flags, env and the --config file beat the manifest file; it beats defaults.
    if ((sources.get(key)?.kind ?? "default") === "default") target[key] = value;
  }
}
