/**
 * The sidecar's identity: its Ed25519 key, the signed manifest and the attestation source. The
 * seed is checked at start; the key is loaded, the manifest signed and the sources hashed with
 * the first request that needs them (WebCrypto and the hash of the tree cost an idle sidecar
 * about 5 MB), and the hash is of the sources as they were at start or none at all.
 * @module
 */
import { onceUntilFailure } from "../async/mod.ts";
import { filePath } from "../config/mod.ts";
import { type Ed25519KeyPair, generateKeyPair, importSeed } from "../crypto/mod.ts";
import { decodeBase64, encodeBase64 } from "../encoding/mod.ts";
import { ConfigError } from "../errors/mod.ts";
import type { Logger } from "../log/mod.ts";
import {
  type Attestation,
  buildManifest,
  checkSourcesUnchanged,
  createAttestation,
  hashCodebase,
  type ManifestFields,
  type SignedManifest,
  signManifest,
  SourcesChangedError,
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
  /** The tree whose sources the attestation hashes (default: this program's). */
  sourceRoot?: string;
  /**
   * The moment (ms since the epoch) the sources are attested as of: one changed after it makes
   * the attestation unavailable. Default: the isolate's start (`performance.timeOrigin`), before
   * its code was read, so a file written while the sidecar was starting counts too.
   */
  startedAt?: number;
}

/** What the sidecar publishes about itself, each made with its first use. */
export interface Identity {
  /** The signed manifest. */
  manifest(): Promise<SignedManifest>;
  /**
   * The current attestation; undefined when the sources could not be hashed or changed since
   * the start (then for the life of the process).
   */
  attestation(): Promise<Attestation | undefined>;
  /**
   * Whether the sources are still those of the start (stat only, nothing read), asked after
   * code was loaded from them late: false when one changed since, and from then on the
   * attestation is unavailable for the life of the process (as when it cannot be checked).
   */
  sourcesUnchanged(): boolean;
}

/**
 * The seed's 32 bytes, checked without loading a key (any 32 bytes are an Ed25519 seed).
 * @throws {ConfigError} naming `signing_key` when it is not base64 of 32 bytes
 */
function checkSeed(seed: string): Uint8Array {
  let bytes: Uint8Array | undefined;
  try {
    bytes = decodeBase64(seed);
  } catch (err) {
    bytes = undefined;
    if (!(err instanceof Error)) throw err;
  }
  if (bytes?.length === 32) return bytes;
  throw new ConfigError(
    "signing_key",
    { kind: "default" }, // the command that loaded the setting puts its true source in
    "base64 of a 32-byte Ed25519 seed",
    "something else",
  );
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
      // A failed signature is not kept: the next request signs again.
      current.catch(() => {
        expires = 0;
      });
    }
    return current;
  };
}

/**
 * Checks the seed, and prepares the key, the signed manifest and attestations for their first
 * use. The sources hashed are those of the start: a file or folder of them changed since makes
 * the attestation unavailable rather than a hash of bytes this process did not start with.
 * @throws {ConfigError} naming `signing_key` when the seed is not 32 bytes of base64
 */
export function createIdentity(opts: IdentityOptions, log: Logger): Identity {
  const startedAt = opts.startedAt ?? Math.floor(performance.timeOrigin);
  const seed = opts.signingSeed ? checkSeed(opts.signingSeed) : undefined;
  if (!seed) {
    log.warn(
      "signing_key not set: an ephemeral Ed25519 key signs the manifest and attestations " +
        "(generated with the first request for them; its public key is logged then)",
    );
  }
  if (!opts.manifest.owner) {
    log.info("IATP_OWNER not set: the manifest names the agent id as its owner", {
      owner: opts.agentId,
    });
  }
  const keys = onceUntilFailure(async (): Promise<Ed25519KeyPair> => {
    if (seed) return await importSeed(seed);
    const generated = await generateKeyPair();
    log.warn("signing_key not set: generated an ephemeral Ed25519 key", {
      public_key: `ed25519:${encodeBase64(generated.publicRaw)}`,
    });
    return generated;
  });
  const manifest = onceUntilFailure(async () =>
    signManifest(
      buildManifest({
        ...opts.factors,
        ...opts.manifest,
        agentId: opts.agentId,
        verificationKey: (await keys()).publicRaw,
      }),
      (await keys()).privateKey,
    )
  );
  // Hashed once (a failure too: hashing the tree blocks the isolate while it reads).
  let codebase: Promise<string | undefined> | undefined;
  const codebaseHash = () =>
    codebase ??= hashCodebase(opts.sourceRoot ?? SOURCE_ROOT, { unchangedSince: startedAt })
      .then(({ hash, files }) => {
        log.info("sources hashed for the attestation", { codebase_hash: hash, files });
        return hash;
      }, (err) => {
        if (err instanceof SourcesChangedError) {
          log.error("the program's sources changed since it started; attestation unavailable", {
            path: err.path,
          });
        } else log.error("cannot hash the program's sources; attestation unavailable", { err });
        return undefined;
      });
  const current = attestationSource(async () => {
    const hash = (await codebaseHash())!; // asked for only once the hash is made (below)
    const [k, signed] = await Promise.all([keys(), manifest()]);
    return await createAttestation({
      agentId: opts.agentId,
      codebaseHash: hash,
      configHash: signed.sha256,
      privateKey: k.privateKey,
      publicRaw: k.publicRaw,
      ttlMs: opts.attestationTtlMs,
    });
  }, opts.attestationTtlMs);
  // Set once code was loaded late from a tree that changed since the start: that code need not
  // be the start's, so no attestation of the start's hash is made from then on.
  let changed = false;
  const sourcesUnchanged = (): boolean => {
    if (changed) return false;
    try {
      checkSourcesUnchanged(opts.sourceRoot ?? SOURCE_ROOT, startedAt);
      return true;
    } catch (err) {
      changed = true;
      if (err instanceof SourcesChangedError) {
        log.error(
          "the program's sources changed since it started: code loaded now may not be its " +
            "start's; attestation unavailable (restart the sidecar)",
          { path: err.path },
        );
        return false;
      }
      // Not checkable (e.g. too many files): the attestation is unavailable for that too.
      log.error("cannot check the program's sources; attestation unavailable", { err });
      return true;
    }
  };
  return {
    manifest,
    attestation: async () => {
      if (changed || (await codebaseHash()) === undefined) return undefined;
      return await current();
    },
    sourcesUnchanged,
  };
}
