/**
 * The ledger's checkpoint signing key: a base64 Ed25519 seed given in config, or kept in a key
 * file that is created (mode 0600) on first start. The key pair is derived from the seed when it
 * is first needed: a ledger that already stored the seed's check (see {@linkcode LedgerKey.check})
 * beside its vkey starts without deriving it, until its first signature.
 * @module
 */
import {
  constantTimeEqual,
  type Ed25519KeyPair,
  generateKeyPair,
  importSeed,
  sha256Js,
} from "../crypto/mod.ts";
import { readTextWithin } from "../config/mod.ts";
import { decodeBase64, decodeHex, encodeHex, isHex } from "../encoding/mod.ts";
import { ConfigError, errorMessage } from "../errors/mod.ts";

/** What the seed's secret hashes before the seed (so it is no other protocol's digest of it). */
const SECRET_DOMAIN = new TextEncoder().encode("iatp-audit signing key check v2\n");

/**
 * A signing key as loaded: its 32-byte seed, and its key pair, derived (by WebCrypto) with the
 * first call of {@linkcode pair}.
 */
export class LedgerKey {
  /** Zeroed once the pair is made (the pair holds the key from then on). */
  readonly #seed: Uint8Array;
  /** SHA-256 of a fixed label and the seed: what checks are made of (never stored or shown). */
  readonly #secret: Uint8Array;
  #pair: Promise<Ed25519KeyPair> | undefined;

  /** A key of `seed`; `pair` when it was already derived (a key just made). */
  constructor(seed: Uint8Array, pair?: Ed25519KeyPair) {
    if (seed.length !== 32) {
      throw new RangeError(`Ed25519 seed must be 32 bytes, got ${seed.length}`);
    }
    this.#seed = seed.slice();
    const buf = new Uint8Array(SECRET_DOMAIN.length + 32);
    buf.set(SECRET_DOMAIN);
    buf.set(seed, SECRET_DOMAIN.length);
    this.#secret = sha256Js(buf);
    buf.fill(0);
    if (pair) {
      this.#pair = Promise.resolve(pair);
      this.#seed.fill(0);
    }
  }

  /** Whether the key pair has been derived (or was given). */
  get derived(): boolean {
    return this.#pair !== undefined;
  }

  /** The key pair, derived from the seed on the first call. */
  pair(): Promise<Ed25519KeyPair> {
    // importSeed copies the seed before its first await.
    return this.#pair ??= importSeed(this.#seed).finally(() => this.#seed.fill(0));
  }

  /**
   * The seed's check for `vkey`: lowercase hex SHA-256 of the seed's secret (a hash of a fixed
   * label and the seed) and the vkey. A ledger stores it beside its vkey once that vkey was
   * matched against the pair derived from this seed; on later starts an equal check for the
   * stored vkey stands for that match. A different or damaged seed, or a vkey changed since, has
   * a different check (and is derived and matched again); no check can be made for a vkey
   * without the seed. One-way: it gives nothing of the seed away.
   */
  check(vkey: string): string {
    const v = new TextEncoder().encode(vkey);
    const buf = new Uint8Array(32 + v.length);
    buf.set(this.#secret);
    buf.set(v, 32);
    const check = encodeHex(sha256Js(buf));
    buf.fill(0);
    return check;
  }

  /** Whether `stored` (a check a ledger holds) is this seed's for `vkey`, in constant time. */
  matches(stored: string | undefined, vkey: string): boolean {
    if (stored === undefined || stored.length !== 64 || !isHex(stored)) return false;
    return constantTimeEqual(decodeHex(stored), decodeHex(this.check(vkey)));
  }
}

/** A key file whose path this process may not use: Deno's refusal is its cause. */
class SigningKeyError extends Error {
  override name = "SigningKeyError";
}

/** What a seed must be (`signing_key`, or the content of `key_file`). */
const SEED = "base64 of a 32-byte Ed25519 seed";

/**
 * The error for a key file that cannot be read or created: Deno's refusal of its path stays one
 * (reported as a permission), anything else is a ConfigError naming `key_file` (whose true
 * source the command puts in).
 */
function keyFileError(verb: string, path: string, err: unknown): Error {
  const text = `cannot ${verb} key file ${path}: ${errorMessage(err)}`;
  if (err instanceof Deno.errors.NotCapable) return new SigningKeyError(text, { cause: err });
  const expected = `a key file holding ${SEED}, or a path where one can be created`;
  return new ConfigError("key_file", { kind: "default" }, expected, text, { cause: err });
}

/**
 * Loads the key from `seedBase64`, else from `keyFile`, creating that file when missing.
 * @throws {ConfigError} naming `signing_key` or `key_file` when the seed is not 32 bytes of
 * base64 or the file cannot be read or created (a refusal of its path is thrown as such)
 */
export async function loadSigningKey(
  opts: { seedBase64?: string; keyFile: string },
): Promise<LedgerKey> {
  if (opts.seedBase64) return fromSeed(opts.seedBase64, "signing_key", "");
  let text: string | undefined;
  try {
    text = await readTextWithin(opts.keyFile);
  } catch (err) {
    if (err instanceof ConfigError) throw err; // IATP_FILE_READ_TIMEOUT is not a duration
    if (!(err instanceof Deno.errors.NotFound)) throw keyFileError("read", opts.keyFile, err);
  }
  if (text !== undefined) return fromSeed(text.trim(), "key_file", `${opts.keyFile}: `);
  const fresh = await generateKeyPair();
  const key = new LedgerKey(decodeBase64(fresh.seedBase64), fresh);
  try {
    await Deno.writeTextFile(opts.keyFile, fresh.seedBase64 + "\n", {
      createNew: true,
      mode: 0o600,
    });
  } catch (err) {
    // Another process created it first: use theirs so both sign with the same key.
    if (err instanceof Deno.errors.AlreadyExists) return await loadSigningKey(opts);
    throw keyFileError("create", opts.keyFile, err);
  }
  return key;
}

/**
 * The key of a seed given by `setting` (`where` prefixes what was found: the key file's path),
 * its pair not derived yet.
 * @throws {ConfigError} naming `setting` when the seed is not 32 bytes of base64 (never its value)
 */
function fromSeed(
  seedBase64: string,
  setting: "signing_key" | "key_file",
  where: string,
): LedgerKey {
  let seed: Uint8Array;
  try {
    seed = decodeBase64(seedBase64);
  } catch (err) {
    throw new ConfigError(setting, { kind: "default" }, SEED, `${where}not base64`, {
      cause: err,
    });
  }
  if (seed.length !== 32) {
    throw new ConfigError(setting, { kind: "default" }, SEED, `${where}${seed.length} bytes`);
  }
  return new LedgerKey(seed);
}
