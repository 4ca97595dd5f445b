/**
 * Attestation records (the IATP format, docs/protocols.md): who the agent is, a hash of the code it
 * runs and of its manifest, Ed25519-signed over
 * `"{agent_id}:{codebase_hash}:{config_hash}:{timestamp}"`.
 * @module
 */
import { sha256Hex, sign, verify } from "../crypto/mod.ts";
import { decodeBase64, encodeBase64 } from "../encoding/mod.ts";

/** The attestation record served at `/.well-known/agent-attestation`. */
export interface Attestation {
  agent_id: string;
  codebase_hash: string;
  config_hash: string;
  /** Base64 Ed25519 signature over {@linkcode attestationMessage}. */
  signature: string;
  signing_key_id: string;
  timestamp: string;
  expires_at?: string;
}

/** The signed string. */
export function attestationMessage(
  a: Pick<Attestation, "agent_id" | "codebase_hash" | "config_hash" | "timestamp">,
): string {
  return `${a.agent_id}:${a.codebase_hash}:${a.config_hash}:${a.timestamp}`;
}

/** Key id: `ed25519:` and the first 16 hex digits of SHA-256 over the raw public key. */
function signingKeyId(publicRaw: Uint8Array): string {
  return `ed25519:${sha256Hex(publicRaw).slice(0, 16)}`;
}

/** Creates and signs an attestation valid for `ttlMs` from `now`. */
export async function createAttestation(opts: {
  agentId: string;
  codebaseHash: string;
  configHash: string;
  privateKey: CryptoKey;
  publicRaw: Uint8Array;
  ttlMs: number;
  now?: Date;
}): Promise<Attestation> {
  const now = opts.now ?? new Date();
  const base = {
    agent_id: opts.agentId,
    codebase_hash: opts.codebaseHash,
    config_hash: opts.configHash,
    timestamp: now.toISOString(),
  };
  const signature = encodeBase64(await sign(opts.privateKey, attestationMessage(base)));
  return {
    ...base,
    signature,
    signing_key_id: signingKeyId(opts.publicRaw),
    expires_at: new Date(now.getTime() + opts.ttlMs).toISOString(),
  };
}

/** Result of {@linkcode verifyAttestation}. */
export interface AttestationCheck {
  ok: boolean;
  reason?: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Verifies shape, key id, signature, time window and (optionally) the expected config hash.
 * Never throws: malformed input is a failed check with a reason.
 */
export async function verifyAttestation(
  record: unknown,
  publicRaw: Uint8Array,
  opts: { now?: Date; configHash?: string; maxSkewMs?: number } = {},
): Promise<AttestationCheck> {
  if (typeof record !== "object" || record === null) return { ok: false, reason: "not an object" };
  const a = record as Record<string, unknown>;
  for (
    const k of [
      "agent_id",
      "codebase_hash",
      "config_hash",
      "signature",
      "signing_key_id",
      "timestamp",
    ]
  ) {
    if (typeof a[k] !== "string" || a[k] === "") return { ok: false, reason: `missing ${k}` };
  }
  const att = a as unknown as Attestation;
  if (!HEX64.test(att.codebase_hash)) {
    return { ok: false, reason: "codebase_hash is not hex SHA-256" };
  }
  if (!HEX64.test(att.config_hash)) return { ok: false, reason: "config_hash is not hex SHA-256" };
  if (att.signing_key_id !== signingKeyId(publicRaw)) {
    return { ok: false, reason: "signing_key_id does not match the public key" };
  }
  let sig: Uint8Array;
  try {
    sig = decodeBase64(att.signature);
  } catch {
    return { ok: false, reason: "signature is not base64" };
  }
  if (!await verify(publicRaw, sig, attestationMessage(att))) {
    return { ok: false, reason: "signature does not verify" };
  }
  return checkTimes(att, opts);
}

function checkTimes(
  att: Attestation,
  opts: { now?: Date; configHash?: string; maxSkewMs?: number },
): AttestationCheck {
  const now = (opts.now ?? new Date()).getTime();
  const issued = Date.parse(att.timestamp);
  if (Number.isNaN(issued)) return { ok: false, reason: "timestamp is not a date" };
  if (issued - now > (opts.maxSkewMs ?? 300_000)) {
    return { ok: false, reason: "timestamp is in the future" };
  }
  if (att.expires_at !== undefined) {
    const expires = Date.parse(att.expires_at);
    if (Number.isNaN(expires)) return { ok: false, reason: "expires_at is not a date" };
    if (expires <= now) return { ok: false, reason: "attestation expired" };
  }
  if (opts.configHash !== undefined && opts.configHash !== att.config_hash) {
    return { ok: false, reason: "config_hash does not match the manifest" };
  }
  return { ok: true };
}
