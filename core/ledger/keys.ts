/**
 * The ledger's checkpoint signing key: a base64 Ed25519 seed given in config, or kept in a key
 * file that is created (mode 0600) on first start.
 * @module
 */
import { type Ed25519KeyPair, generateKeyPair, importSeed } from "../crypto/mod.ts";
import { decodeBase64 } from "../encoding/mod.ts";
import { ConfigError, errorMessage } from "../errors/mod.ts";

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
): Promise<Ed25519KeyPair> {
  if (opts.seedBase64) return await fromSeed(opts.seedBase64, "signing_key", "");
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(opts.keyFile);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw keyFileError("read", opts.keyFile, err);
  }
  if (text !== undefined) return await fromSeed(text.trim(), "key_file", `${opts.keyFile}: `);
  const fresh = await generateKeyPair();
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
  return fresh;
}

/**
 * The key of a seed given by `setting` (`where` prefixes what was found: the key file's path).
 * @throws {ConfigError} naming `setting` when the seed is not 32 bytes of base64 (never its value)
 */
async function fromSeed(
  seedBase64: string,
  setting: "signing_key" | "key_file",
  where: string,
): Promise<Ed25519KeyPair> {
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
  return await importSeed(seed);
}
