/**
 * The capability manifest an agent publishes, one document every IATP reader accepts: the Go
 * sidecar's nested shape (`identity`, `capabilities`, `reversibility`, `privacy`) with
 * `protocol_version`, which is also what the IATP JSON schema requires (`identity.owner`
 * included), plus the Python model's flat fields (`agent_id`, `capabilities.reversibility`,
 * `undo_window`, `sla_latency`, `privacy_contract`) beside them. Readers ignore what they do not
 * know, so the shapes coexist. Served on `/capabilities` and `/.well-known/agent-manifest`,
 * and signed over its canonical JSON.
 * @module
 */
import { sha256Hex, sign } from "../crypto/mod.ts";
import { canonicalize, decodeBase64, encodeBase64 } from "../encoding/mod.ts";
import {
  type Retention,
  type Reversibility,
  type TrustFactors,
  type TrustLevel,
  trustScore,
} from "./score.ts";

/** IATP protocol version this manifest speaks. */
const PROTOCOL_VERSION = "1.0";

/** Everything the manifest says about an agent. */
export interface ManifestFields extends TrustFactors {
  agentId: string;
  /** Organization or person owning the agent (the schema requires one; see {@linkcode buildManifest}). */
  owner?: string;
  agentVersion?: string;
  /** Requests per minute the agent accepts (the Python model's `capabilities.rate_limit`). */
  rateLimit?: number;
  /** Where the agent stores data, e.g. `us-west`. */
  storageLocation?: string;
  encryptionAtRest: boolean;
  encryptionInTransit: boolean;
  /** Raw Ed25519 public key of the sidecar's signing key. */
  verificationKey?: Uint8Array;
  scopes: string[];
  idempotency: boolean;
  concurrencyLimit: number;
  slaLatencyMs: number;
  undoWindowSeconds: number;
  compensationMethod?: string;
}

/** The manifest as JSON: Go nested names, with the Python model's flat names beside them. */
export interface WireManifest {
  protocol_version: string;
  identity: { agent_id: string; owner: string; verification_key?: string };
  /** Python model: the agent id, flat. */
  agent_id: string;
  agent_version?: string;
  trust_level: TrustLevel;
  /** iatp's (the Go sidecar's) score; Python readers compute their own from the fields. */
  trust_score: number;
  capabilities: {
    idempotency: boolean;
    concurrency_limit: number;
    sla_latency_ms: number;
    /** Python model: the reversibility level (it reads `none` when this is missing). */
    reversibility: Reversibility;
    /** Python model: `undo_window_seconds` written as a duration, e.g. `3600s`. */
    undo_window: string;
    /** Python model: `sla_latency_ms` written as a duration, e.g. `2000ms`. */
    sla_latency: string;
    rate_limit?: number;
  };
  reversibility: {
    level: Reversibility;
    undo_window_seconds: number;
    compensation_method?: string;
  };
  privacy: {
    retention_policy: Retention;
    human_in_loop: boolean;
    training_consent: boolean;
    encryption_at_rest: boolean;
    encryption_in_transit: boolean;
    storage_location?: string;
  };
  /** Python model: the privacy facts under its names. */
  privacy_contract: {
    retention: Retention;
    human_review: boolean;
    encryption_at_rest: boolean;
    encryption_in_transit: boolean;
    storage_location?: string;
  };
  scopes: string[];
}

/** `ed25519:<base64>`, the verification key format in `identity`. */
function formatVerificationKey(raw: Uint8Array): string {
  return `ed25519:${encodeBase64(raw)}`;
}

/** Parses `ed25519:<base64>` (or bare base64) to raw key bytes; undefined when malformed. */
export function parseVerificationKey(text: string): Uint8Array | undefined {
  const b64 = text.startsWith("ed25519:") ? text.slice("ed25519:".length) : text;
  try {
    const raw = decodeBase64(b64);
    return raw.length === 32 ? raw : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Builds the wire manifest. `identity.owner` is always present: the schema requires it, so an
 * agent that names no owner is its own (`owner` defaults to the agent id).
 *
 * @example
 * ```ts
 * const m = buildManifest({ agentId: "a1", trustLevel: "standard", reversibility: "partial",
 *   retention: "temporary", humanInLoop: false, trainingConsent: false, scopes: [],
 *   idempotency: true, concurrencyLimit: 100, slaLatencyMs: 2000, undoWindowSeconds: 3600,
 *   encryptionAtRest: false, encryptionInTransit: false });
 * m.identity.owner; // "a1"
 * m.capabilities.reversibility; // "partial"
 * ```
 */
export function buildManifest(f: ManifestFields): WireManifest {
  const encryption = {
    encryption_at_rest: f.encryptionAtRest,
    encryption_in_transit: f.encryptionInTransit,
    ...(f.storageLocation ? { storage_location: f.storageLocation } : {}),
  };
  return {
    protocol_version: PROTOCOL_VERSION,
    identity: {
      agent_id: f.agentId,
      owner: f.owner || f.agentId,
      ...(f.verificationKey ? { verification_key: formatVerificationKey(f.verificationKey) } : {}),
    },
    agent_id: f.agentId,
    ...(f.agentVersion ? { agent_version: f.agentVersion } : {}),
    trust_level: f.trustLevel,
    trust_score: trustScore(f),
    capabilities: {
      idempotency: f.idempotency,
      concurrency_limit: f.concurrencyLimit,
      sla_latency_ms: f.slaLatencyMs,
      reversibility: f.reversibility,
      undo_window: `${f.undoWindowSeconds}s`,
      sla_latency: `${f.slaLatencyMs}ms`,
      ...(f.rateLimit !== undefined ? { rate_limit: f.rateLimit } : {}),
    },
    reversibility: {
      level: f.reversibility,
      undo_window_seconds: f.undoWindowSeconds,
      ...(f.compensationMethod ? { compensation_method: f.compensationMethod } : {}),
    },
    privacy: {
      retention_policy: f.retention,
      human_in_loop: f.humanInLoop,
      training_consent: f.trainingConsent,
      ...encryption,
    },
    privacy_contract: { retention: f.retention, human_review: f.humanInLoop, ...encryption },
    scopes: f.scopes,
  };
}

/** A manifest ready to serve: canonical bytes, detached signature, SHA-256 of the bytes. */
export interface SignedManifest {
  manifest: WireManifest;
  /** Canonical JSON: the exact response body and the signed bytes. */
  body: string;
  /** Base64 Ed25519 signature over `body` (the `X-IATP-Signature` header). */
  signature: string;
  /** Lowercase hex SHA-256 of `body` (the attestation's `config_hash`). */
  sha256: string;
}

/** Canonicalises, signs and hashes a manifest. */
export async function signManifest(
  manifest: WireManifest,
  privateKey: CryptoKey,
): Promise<SignedManifest> {
  const body = canonicalize(manifest);
  const bytes = new TextEncoder().encode(body);
  const signature = encodeBase64(await sign(privateKey, bytes));
  const sha256 = sha256Hex(bytes);
  return { manifest, body, signature, sha256 };
}
