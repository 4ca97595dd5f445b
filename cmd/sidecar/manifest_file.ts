/**
 * `iatp sidecar --manifest FILE`: a YAML or JSON manifest in either IATP shape, the Go
 * sidecar's nested one (`identity`, `reversibility{level}`, `privacy{retention_policy}`) or the
 * Python model's flat one (`agent_id`, `capabilities.reversibility`, `privacy_contract`, as in
 * upstream's example manifests), or both at once. Its values fill the sidecar's manifest
 * settings wherever no flag, env var or config key set one. A flat file means what the Python
 * model says it means: what it leaves out takes that model's defaults (no idempotency, no
 * reversibility, encryption at rest and in transit). Two shapes that disagree are an error.
 * @module
 */
import { isMap, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import {
  didYouMean,
  parseDuration,
  readTextWithin,
  type SourceMap,
  unreadableWhy,
} from "../../core/config/mod.ts";
import { ConfigError, errorMessage } from "../../core/errors/mod.ts";
import { RETENTION_POLICIES, REVERSIBILITY_LEVELS, TRUST_LEVELS } from "../../core/trust/mod.ts";

const text = z.string().min(1).max(255);
/** A duration of the Python model (`24h`, `2000ms`, `30s`). */
const pyDuration = z.string().refine((v) => parseDuration(v) !== undefined, {
  message: "a duration such as 2000ms, 30s, 5m, 24h or 7d",
});

/**
 * Members other IATP readers define that the served manifest does not carry: the JSON schema's
 * optional fields (spec/schema/capability_manifest.json) and the `attestation` the Python
 * sidecar embeds in the manifest it serves. A file may hold them (one saved from another
 * sidecar, one written to the schema); they are listed in a start-up warning, not served.
 */
const UNSERVED = {
  top: ["authentication", "rate_limiting", "attestation"],
  capabilities: ["idempotency_duration_seconds", "sla_availability"],
  reversibility: [
    "compensation_sla_ms",
    "compensation_notes",
    "compensation_endpoint",
    "undo_conditions",
  ],
  privacy: ["retention_duration_seconds", "data_processing_addendum"],
} as const;

/** The unserved members of one mapping, as schema entries that take any value. */
function unserved<const K extends readonly string[]>(keys: K) {
  return Object.fromEntries(keys.map((k) => [k, z.unknown().optional()])) as {
    [P in K[number]]: z.ZodOptional<z.ZodUnknown>;
  };
}

const manifestSchema = z.strictObject({
  ...unserved(UNSERVED.top),
  $schema: z.string().optional(),
  protocol_version: z.string().optional(),
  manifest_version: z.string().optional(),
  updated_at: z.string().optional(),
  trust_score: z.number().optional(),
  identity: z.strictObject({
    agent_id: text.optional(),
    owner: text.optional(),
    verification_key: z.string().optional(),
    contact: z.string().optional(),
  }).optional(),
  agent_id: text.optional(),
  agent_version: z.string().min(1).max(255).optional(),
  trust_level: z.enum(TRUST_LEVELS).optional(),
  capabilities: z.strictObject({
    idempotency: z.boolean().optional(),
    concurrency_limit: z.number().int().min(1).optional(),
    sla_latency_ms: z.number().int().min(0).optional(),
    reversibility: z.enum(REVERSIBILITY_LEVELS).optional(),
    undo_window: pyDuration.optional(),
    sla_latency: pyDuration.optional(),
    rate_limit: z.number().int().min(1).optional(),
    ...unserved(UNSERVED.capabilities),
  }).optional(),
  reversibility: z.strictObject({
    level: z.enum(REVERSIBILITY_LEVELS).optional(),
    undo_window_seconds: z.number().int().min(0).optional(),
    compensation_method: z.string().nullable().optional(),
    ...unserved(UNSERVED.reversibility),
  }).optional(),
  privacy: z.strictObject({
    retention_policy: z.enum(RETENTION_POLICIES).optional(),
    human_in_loop: z.boolean().optional(),
    training_consent: z.boolean().optional(),
    encryption_at_rest: z.boolean().optional(),
    encryption_in_transit: z.boolean().optional(),
    storage_location: z.string().min(1).max(255).optional(),
    ...unserved(UNSERVED.privacy),
  }).optional(),
  privacy_contract: z.strictObject({
    retention: z.enum(RETENTION_POLICIES),
    storage_location: z.string().min(1).max(255).optional(),
    human_review: z.boolean().optional(),
    encryption_at_rest: z.boolean().optional(),
    encryption_in_transit: z.boolean().optional(),
  }).optional(),
  scopes: z.array(z.string().min(1)).optional(),
});

/** A validated manifest file. */
type ManifestFile = z.infer<typeof manifestSchema>;

type Getter = (m: ManifestFile) => unknown;
const seconds = (d: string | undefined) =>
  d === undefined ? undefined : Math.round(parseDuration(d)! / 1000);
const millis = (d: string | undefined) => d === undefined ? undefined : parseDuration(d);

/**
 * Sidecar setting <- [file path, getter] in the nested shape, then in the flat shape, then the
 * Python model's default for a flat file that leaves it out.
 */
const MAPPING: Array<
  { key: string; nested?: [string, Getter]; flat?: [string, Getter]; pyDefault?: unknown }
> = [
  {
    key: "agent_id",
    nested: ["identity.agent_id", (m) => m.identity?.agent_id],
    flat: ["agent_id", (m) => m.agent_id],
  },
  { key: "owner", nested: ["identity.owner", (m) => m.identity?.owner] },
  { key: "agent_version", flat: ["agent_version", (m) => m.agent_version] },
  { key: "trust_level", nested: ["trust_level", (m) => m.trust_level], pyDefault: "standard" },
  {
    key: "idempotency",
    nested: ["capabilities.idempotency", (m) => m.capabilities?.idempotency],
    pyDefault: false,
  },
  {
    key: "concurrency_limit",
    nested: ["capabilities.concurrency_limit", (m) => m.capabilities?.concurrency_limit],
  },
  {
    key: "sla_latency_ms",
    nested: ["capabilities.sla_latency_ms", (m) => m.capabilities?.sla_latency_ms],
    flat: ["capabilities.sla_latency", (m) => millis(m.capabilities?.sla_latency)],
  },
  { key: "rate_limit", flat: ["capabilities.rate_limit", (m) => m.capabilities?.rate_limit] },
  {
    key: "reversibility",
    nested: ["reversibility.level", (m) => m.reversibility?.level],
    flat: ["capabilities.reversibility", (m) => m.capabilities?.reversibility],
    pyDefault: "none",
  },
  {
    key: "undo_window_seconds",
    nested: ["reversibility.undo_window_seconds", (m) => m.reversibility?.undo_window_seconds],
    flat: ["capabilities.undo_window", (m) => seconds(m.capabilities?.undo_window)],
  },
  {
    key: "compensation_method",
    nested: [
      "reversibility.compensation_method",
      (m) => m.reversibility?.compensation_method ?? undefined,
    ],
  },
  {
    key: "retention",
    nested: ["privacy.retention_policy", (m) => m.privacy?.retention_policy],
    flat: ["privacy_contract.retention", (m) => m.privacy_contract?.retention],
  },
  {
    key: "human_in_loop",
    nested: ["privacy.human_in_loop", (m) => m.privacy?.human_in_loop],
    flat: ["privacy_contract.human_review", (m) => m.privacy_contract?.human_review],
    pyDefault: false,
  },
  {
    key: "training_consent",
    nested: ["privacy.training_consent", (m) => m.privacy?.training_consent],
  },
  {
    key: "encryption_at_rest",
    nested: ["privacy.encryption_at_rest", (m) => m.privacy?.encryption_at_rest],
    flat: ["privacy_contract.encryption_at_rest", (m) => m.privacy_contract?.encryption_at_rest],
    pyDefault: true,
  },
  {
    key: "encryption_in_transit",
    nested: ["privacy.encryption_in_transit", (m) => m.privacy?.encryption_in_transit],
    flat: [
      "privacy_contract.encryption_in_transit",
      (m) => m.privacy_contract?.encryption_in_transit,
    ],
    pyDefault: true,
  },
  {
    key: "storage_location",
    nested: ["privacy.storage_location", (m) => m.privacy?.storage_location],
    flat: ["privacy_contract.storage_location", (m) => m.privacy_contract?.storage_location],
  },
  { key: "scopes", nested: ["scopes", (m) => m.scopes] },
];

/** True for a file in the Python model's flat shape (upstream's example manifests). */
function isFlat(m: ManifestFile): boolean {
  return m.agent_id !== undefined || m.privacy_contract !== undefined;
}

/**
 * Reads (bounded in size and in time: IATP_FILE_READ_TIMEOUT) and validates a manifest file;
 * errors name the key and line.
 */
async function loadManifestFile(path: string): Promise<ManifestFile> {
  let source: string;
  try {
    source = await readTextWithin(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err; // IATP_FILE_READ_TIMEOUT is not a duration
    const why = unreadableWhy(err);
    throw new ConfigError("manifest", { kind: "file", path }, "a readable YAML manifest", why, {
      cause: err,
    });
  }
  const lc = new LineCounter();
  const doc = parseDocument(source, {
    lineCounter: lc,
    prettyErrors: false,
    uniqueKeys: true,
    merge: true,
  });
  if (doc.errors.length > 0) {
    const line = lc.linePos(doc.errors[0].pos[0]).line;
    throw new ConfigError("manifest", { kind: "file", path, line }, "valid YAML", "a syntax error");
  }
  if (!isMap(doc.contents)) {
    throw new ConfigError("manifest", { kind: "file", path }, "a YAML mapping", "another document");
  }
  const lineOf = (keys: PropertyKey[]) => {
    const node = doc.getIn(keys as string[], true) as { range?: number[] } | undefined;
    return node?.range ? lc.linePos(node.range[0]).line : undefined;
  };
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    // An alias to no anchor, or aliases that expand past the parser's bound (maxAliasCount).
    throw new ConfigError("manifest", { kind: "file", path }, "valid YAML", errorMessage(err), {
      cause: err,
    });
  }
  // A null member is an absent one, as the Python model (its Optional fields, which the Python
  // sidecar serves as null) and the Go sidecar's encoding/json take it.
  const parsed = manifestSchema.safeParse(withoutNulls(value));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const keys = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0]] : issue.path;
    const where = { kind: "file", path, line: lineOf(keys) } as const;
    if (issue.code === "unrecognized_keys") {
      const name = String(issue.keys[0]);
      const known = knownKeysAt(issue.path);
      const guess = didYouMean(name, known);
      throw new ConfigError(
        `manifest.${keys.map(String).join(".")}`,
        where,
        guess
          ? `a known key (did you mean "${guess}"?)`
          : `one of the known keys (${known.join(", ")})`,
        `unknown key "${name}"`,
      );
    }
    throw new ConfigError(
      `manifest.${keys.map(String).join(".")}`,
      where,
      issue.message,
      "an invalid value",
    );
  }
  const m = parsed.data;
  if (isFlat(m) && m.agent_id === undefined && m.identity?.agent_id === undefined) {
    throw new ConfigError(
      "manifest.agent_id",
      { kind: "file", path },
      "an agent_id (a flat manifest needs one, as the Python model does)",
      "none",
    );
  }
  checkAgreement(m, path, lineOf);
  return m;
}

/** `value` with every null member of its mappings left out, at any depth. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== null) out[k] = withoutNulls(v);
  }
  return out;
}

/** The members of `m` that the served manifest does not carry (see UNSERVED), dotted. */
function unservedMembers(m: ManifestFile): string[] {
  const present = (obj: object | undefined, keys: readonly string[], prefix: string) =>
    keys.filter((k) => obj !== undefined && (obj as Record<string, unknown>)[k] !== undefined)
      .map((k) => prefix + k);
  return [
    ...present(m, UNSERVED.top, ""),
    ...present(m.capabilities, UNSERVED.capabilities, "capabilities."),
    ...present(m.reversibility, UNSERVED.reversibility, "reversibility."),
    ...present(m.privacy, UNSERVED.privacy, "privacy."),
  ];
}

/** Both shapes may say the same thing; they must then say it alike. */
function checkAgreement(
  m: ManifestFile,
  path: string,
  lineOf: (keys: PropertyKey[]) => number | undefined,
): void {
  for (const { nested, flat } of MAPPING) {
    if (!nested || !flat) continue;
    const a = nested[1](m);
    const b = flat[1](m);
    if (a === undefined || b === undefined || a === b) continue;
    throw new ConfigError(
      `manifest.${flat[0]}`,
      { kind: "file", path, line: lineOf(flat[0].split(".")) },
      `the same value as ${nested[0]} (${JSON.stringify(a)})`,
      JSON.stringify(b),
    );
  }
}

/** The settings a manifest file gives, by sidecar config key. */
function manifestSettings(m: ManifestFile): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const flat = isFlat(m);
  for (const { key, nested, flat: f, pyDefault } of MAPPING) {
    const value = nested?.[1](m) ?? f?.[1](m) ?? (flat ? pyDefault : undefined);
    if (value !== undefined) out.set(key, value);
  }
  return out;
}

/**
 * Applies the `manifest` setting's file to `config`: each value it gives replaces a built-in
 * default only (flags, env and the `--config` file win). Members the served manifest does not
 * carry are named in one `warn`ing.
 * @throws {ConfigError} naming the file, key and line of anything the file gets wrong.
 */
export async function applyManifestFile(
  config: Record<string, unknown>,
  sources: SourceMap,
  warn: (message: string) => void = () => {},
): Promise<void> {
  const path = config.manifest;
  if (typeof path !== "string" || path === "") return;
  const m = await loadManifestFile(path);
  const unservedKeys = unservedMembers(m);
  if (unservedKeys.length > 0) {
    warn(`manifest keys accepted but not served by iatp (${path}): ${unservedKeys.join(", ")}`);
  }
  for (const [key, value] of manifestSettings(m)) {
    if ((sources.get(key)?.kind ?? "default") === "default") {
      config[key] = value;
      sources.set(key, { kind: "file", path }); // `iatp config show` names the manifest
    }
  }
}

/** The keys the manifest schema knows in the mapping at `path` (none when it is not a mapping). */
function knownKeysAt(path: readonly PropertyKey[]): string[] {
  // deno-lint-ignore no-explicit-any -- walking zod's schema tree, whose node types vary
  const unwrap = (s: any): any => {
    while (s && typeof s.unwrap === "function" && !s.shape) s = s.unwrap();
    return s;
  };
  let node = unwrap(manifestSchema);
  for (const p of path) {
    node = unwrap(node?.shape?.[String(p)]);
  }
  return node?.shape ? Object.keys(node.shape) : [];
}
