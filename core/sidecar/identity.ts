/**
 * The sidecar's identity: its Ed25519 key, the signed manifest and the attestation source.
 * @module
 */
import { filePath } from "../config/mod.ts";
import { generateKeyPair, importSeed } from "../crypto/mod.ts";
import { decodeBase64, encodeBase64 } from "../encoding/mod.ts";
import { ConfigError } from "../errors/mod.ts";
import type { Logger } from "../log/mod.ts";
import {
  type Attestation,
  buildManifest,
  createAttestation,
  hashCodebase,
  type ManifestFields,
  type SignedManifest,
  signManifest,
  type TrustFactors,
} from "../trust/mod.ts";

/** The checkout (or embedded) root whose sources the attestation hashes. */
const SOURCE_ROOT = filePath(new URL("../../", import.meta.url));

/** What the signed manifest and the attestation say, and the key they are signed with. */
export interface IdentityOptions {
  agentId: string;
  /** The declared trust factors (trust level, reversibility, retention, ...). */
  factors: TrustFactors;
  /** The rest of the manifest: owner, scopes, capabilities, undo window. */
  manifest: Omit<ManifestFields, keyof TrustFactors | "agentId" | "verificationKey">;
  /** Base64 Ed25519 seed; unset: an ephemeral key is generated (and its public key logged). */
  signingSeed?: string;
  /** How long one attestation is valid. */
  attestationTtlMs: number;
}

/** What the sidecar publishes about itself. */
export interface Identity {
  signed: SignedManifest;
  /** Current attestation; undefined when the sources could not be hashed. */
  attestation?: () => Promise<Attestation>;
  codebaseHash?: string;
}

async function loadKeys(seed: string | undefined, log: Logger) {
  if (!seed) {
    const keys = await generateKeyPair();
    log.warn("signing_key not set: generated an ephemeral Ed25519 key", {
      public_key: `ed25519:${encodeBase64(keys.publicRaw)}`,
    });
    return keys;
  }
  try {
    return await importSeed(decodeBase64(seed));
  } catch (err) {
    throw new ConfigError(
      "signing_key",
      { kind: "default" }, // the command that loaded the setting puts its true source in
      "base64 of a 32-byte Ed25519 seed",
      "something else",
      { cause: err },
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

/**
 * Loads the key, signs the manifest and prepares attestations.
 * @throws {ConfigError} naming `signing_key` when the seed is not 32 bytes of base64
 */
export async function createIdentity(opts: IdentityOptions, log: Logger): Promise<Identity> {
  const keys = await loadKeys(opts.signingSeed, log);
  if (!opts.manifest.owner) {
    log.info("IATP_OWNER not set: the manifest names the agent id as its owner", {
      owner: opts.agentId,
    });
  }
  const signed = await signManifest(
    buildManifest({
      ...opts.factors,
      ...opts.manifest,
      agentId: opts.agentId,
      verificationKey: keys.publicRaw,
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
      agentId: opts.agentId,
      codebaseHash: codebase.hash,
      configHash: signed.sha256,
      privateKey: keys.privateKey,
      publicRaw: keys.publicRaw,
      ttlMs: opts.attestationTtlMs,
    }), opts.attestationTtlMs);
  return { signed, attestation, codebaseHash: codebase.hash };
}
