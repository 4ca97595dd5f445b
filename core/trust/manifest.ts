/**
 * The capability manifest an agent publishes: the Go sidecar's nested shape plus
 * `protocol_version` and `trust_score`, served on `/capabilities` and
 * `/.well-known/agent-manifest`, and signed over its canonical JSON.
 * @module
 */
import { sign, toBase64 } from "../crypto/ed25519.ts";
import { canonicalJson } from "./canonical.ts";
import {
  type Retention,
  type Reversibility,
  type TrustFactors,
  type TrustLevel,
  trustScore,
} from "./score.ts";

/** IATP protocol version this manifest speaks. */
export const PROTOCOL_VERSION = "1.0";

/** Everything the manifest says about an agent. */
export interface ManifestFields extends TrustFactors {
  agentId: string;
  owner?: string;
  /** Raw Ed25519 public key of the sidecar's signing key. */
  verificationKey?: Uint8Array;
  scopes: string[];
  idempotency: boolean;
  concurrencyLimit: number;
  slaLatencyMs: number;
  undoWindowSeconds: number;
  compensationMethod?: string;
}

/** The manifest as JSON (Go nested field names). */
export interface WireManifest {
  protocol_version: string;
  identity: { agent_id: string; owner?: string; verification_key?: string };
  trust_level: TrustLevel;
  trust_score: number;
  capabilities: { idempotency: boolean; concurrency_limit: number; sla_latency_ms: number };
  reversibility: {
    level: Reversibility;
    undo_window_seconds: number;
    compensation_method?: string;
  };
  privacy: { retention_policy: Retention; human_in_loop: boolean; training_consent: boolean };
  scopes: string[];
}

/** `ed25519:<base64>`, the verification key format in `identity`. */
export function formatVerificationKey(raw: Uint8Array): string {
  return `ed25519:${toBase64(raw)}`;
}

/** Parses `ed25519:<base64>` (or bare base64) to raw key bytes; undefined when malformed. */
export function parseVerificationKey(text: string): Uint8Array | undefined {
  const b64 = text.startsWith("ed25519:") ? text.slice("ed25519:".length) : text;
  try {
    const bin = atob(b64.trim());
    return bin.length === 32 ? Uint8Array.from(bin, (c) => c.charCodeAt(0)) : undefined;
  } catch {
    return undefined;
  }
}

/** Builds the wire manifest. */
export function buildManifest(f: ManifestFields): WireManifest {
  return {
    protocol_version: PROTOCOL_VERSION,
    identity: {
      agent_id: f.agentId,
      ...(f.owner ? { owner: f.owner } : {}),
      ...(f.verificationKey ? { verification_key: formatVerificationKey(f.verificationKey) } : {}),
    },
    trust_level: f.trustLevel,
    trust_score: trustScore(f),
    capabilities: {
      idempotency: f.idempotency,
      concurrency_limit: f.concurrencyLimit,
      sla_latency_ms: f.slaLatencyMs,
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
    },
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
  const body = canonicalJson(manifest);
  const bytes = new TextEncoder().encode(body);
  const signature = toBase64(await sign(privateKey, bytes));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  return { manifest, body, signature, sha256 };
}
