/**
 * The ledger's checkpoint signing key: a base64 Ed25519 seed given in config, or kept in a key
 * file that is created (mode 0600) on first start.
 * @module
 */
import { type Ed25519KeyPair, generateKeyPair, importSeed } from "../crypto/mod.ts";
import { decodeBase64 } from "../encoding/mod.ts";
import { errorMessage } from "../errors/mod.ts";

/** A signing key that cannot be loaded: says which source and why. */
class SigningKeyError extends Error {
  override name = "SigningKeyError";
}

/** Loads the key from `seedBase64`, else from `keyFile`, creating that file when missing. */
export async function loadSigningKey(
  opts: { seedBase64?: string; keyFile: string },
): Promise<Ed25519KeyPair> {
  if (opts.seedBase64) return await fromSeed(opts.seedBase64, "signing_key");
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(opts.keyFile);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new SigningKeyError(`cannot read key file ${opts.keyFile}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }
  if (text !== undefined) return await fromSeed(text.trim(), opts.keyFile);
  const fresh = await generateKeyPair();
  try {
    await Deno.writeTextFile(opts.keyFile, fresh.seedBase64 + "\n", {
      createNew: true,
      mode: 0o600,
    });
  } catch (err) {
    // Another process created it first: use theirs so both sign with the same key.
    if (err instanceof Deno.errors.AlreadyExists) return await loadSigningKey(opts);
    throw new SigningKeyError(`cannot create key file ${opts.keyFile}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return fresh;
}

async function fromSeed(seedBase64: string, source: string): Promise<Ed25519KeyPair> {
  let seed: Uint8Array;
  try {
    seed = decodeBase64(seedBase64);
  } catch {
    throw new SigningKeyError(`${source}: not base64`);
  }
  if (seed.length !== 32) {
    throw new SigningKeyError(
      `${source}: expected a 32-byte Ed25519 seed, found ${seed.length} bytes`,
    );
  }
  return await importSeed(seed);
}
