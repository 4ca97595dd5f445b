/**
 * The sidecar's identity: its Ed25519 key, the signed manifest and the attestation source.
 * @module
 */
import { fileURLToPath } from "node:url";
import { generateKeyPair, importSeed } from "../../core/crypto/ed25519.ts";
import { decodeBase64, encodeBase64 } from "../../core/encoding/mod.ts";
import { ConfigError } from "../../core/errors/mod.ts";
import type { Logger } from "../../core/log/mod.ts";
import {
  type Attestation,
  buildManifest,
  createAttestation,
  hashCodebase,
  type SignedManifest,
  signManifest,
  type TrustFactors,
} from "../../core/trust/mod.ts";
import type { SidecarConfig } from "./config.ts";

/** The checkout (or embedded) root whose sources the attestation hashes. */
export const SOURCE_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** What the sidecar publishes about itself. */
export interface Identity {
  signed: SignedManifest;
  /** Current attestation; undefined when the sources could not be hashed. */
  attestation?: () => Promise<Attestation>;
  codebaseHash?: string;
}

async function loadKeys(config: SidecarConfig, log: Logger) {
  const seed = config.signing_key as string | undefined;
  if (!seed) {
    const keys = await generateKeyPair();
    log.warn("IATP_SIGNING_KEY not set: generated an ephemeral Ed25519 key", {
      public_key: `ed25519:${encodeBase64(keys.publicRaw)}`,
    });
    return keys;
  }
  try {
    return await importSeed(decodeBase64(seed));
  } catch {
    throw new ConfigError(
      "signing_key",
      { kind: "env", name: "IATP_SIGNING_KEY" },
      "base64 of a 32-byte Ed25519 seed",
      "something else",
    );
  }
}

/** Keeps a fresh attestation: re-signed once less than a tenth of its validity remains. */
function attestationSource(
  make: () => Promise<Attestation>,
  ttlMs: number,
): () => Promise<Attestation> {
  let current: Promise<Attestation> | undefined;
  let expires = 0;
  return () => {
    if (!current || Date.now() > expires - ttlMs / 10) {
      expires = Date.now() + ttlMs;
      current = make();
    }
    return current;
  };
}

/** Loads the key, signs the manifest and prepares attestations. */
export async function createIdentity(
  config: SidecarConfig,
  factors: TrustFactors,
  log: Logger,
): Promise<Identity> {
  const keys = await loadKeys(config, log);
  const owner = (config.owner as string | undefined) || undefined;
  if (!owner) {
    log.info("IATP_OWNER not set: the manifest names the agent id as its owner", {
      owner: config.agent_id,
    });
  }
  const signed = await signManifest(
    buildManifest({
      ...factors,
      agentId: config.agent_id,
      owner,
      agentVersion: (config.agent_version as string | undefined) || undefined,
      rateLimit: config.rate_limit as number | undefined,
      storageLocation: (config.storage_location as string | undefined) || undefined,
      encryptionAtRest: config.encryption_at_rest,
      encryptionInTransit: config.encryption_in_transit,
      verificationKey: keys.publicRaw,
      scopes: config.scopes,
      idempotency: config.idempotency,
      concurrencyLimit: config.concurrency_limit,
      slaLatencyMs: config.sla_latency_ms,
      undoWindowSeconds: config.undo_window_seconds,
      compensationMethod: (config.compensation_method as string | undefined) || undefined,
    }),
    keys.privateKey,
  );
  const codebase = await hashCodebase(SOURCE_ROOT).catch((err) => {
    log.error("cannot hash the program's sources; attestation unavailable", { err });
    return undefined;
  });
  if (!codebase) return { signed };
  const attestation = attestationSource(() =>
    createAttestation({
      agentId: config.agent_id,
      codebaseHash: codebase.hash,
      configHash: signed.sha256,
      privateKey: keys.privateKey,
      publicRaw: keys.publicRaw,
      ttlMs: config.attestation_ttl,
    }), config.attestation_ttl);
  return { signed, attestation, codebaseHash: codebase.hash };
}
