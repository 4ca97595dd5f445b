/**
 * Credential material on disk: the issuer key pair (`issuer.key`, the private seed, and
 * `issuer.pub`, the public key) and credential files, written owner-only (files 0600 in 0700
 * folders) and replaced atomically, so a crash never leaves half a key behind.
 *
 * @example
 * ```ts
 * const issuer = await createIssuerFiles("/etc/iatp/issuer"); // refuses to overwrite
 * const again = await readIssuerKey("/etc/iatp/issuer/issuer.key");
 * ```
 * @module
 */
import { readTextWithin } from "../config/mod.ts";
import { generateIssuer, type Issuer, issuerFromSeed } from "./credential.ts";

/** Mode of credential files: owner read/write only. */
export const SECRET_FILE_MODE = 0o600;
/** Mode of folders holding credentials: owner only. */
const SECRET_DIR_MODE = 0o700;
/** File name of the issuer's private seed in a key folder. */
export const ISSUER_KEY_FILE = "issuer.key";
/** File name of the issuer's public key in a key folder. */
export const ISSUER_PUB_FILE = "issuer.pub";

/** Creates `dir` (and parents) if missing and makes it owner-only. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: SECRET_DIR_MODE });
  await Deno.chmod(dir, SECRET_DIR_MODE);
}

/**
 * Writes `text` (plus a newline) to `path` with mode 0600. With `overwrite` the file is replaced
 * atomically (written beside it, then renamed); without, an existing file is never touched.
 * @throws {Deno.errors.AlreadyExists} without `overwrite` when `path` exists.
 */
export async function writeSecretFile(
  path: string,
  text: string,
  opts: { overwrite?: boolean } = {},
): Promise<void> {
  const body = text.endsWith("\n") ? text : text + "\n";
  if (!opts.overwrite) {
    await Deno.writeTextFile(path, body, { createNew: true, mode: SECRET_FILE_MODE });
    await Deno.chmod(path, SECRET_FILE_MODE); // the umask may have narrowed it further; fine
    return;
  }
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(tmp, body, { createNew: true, mode: SECRET_FILE_MODE });
    await Deno.chmod(tmp, SECRET_FILE_MODE);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/**
 * Generates an issuer and writes `dir/issuer.key` (0600) and `dir/issuer.pub`; `dir` is created
 * owner-only if missing.
 * @throws {Deno.errors.AlreadyExists} without `overwrite` when either file exists (nothing is
 * written then).
 */
export async function createIssuerFiles(
  dir: string,
  opts: { overwrite?: boolean } = {},
): Promise<Issuer> {
  await ensurePrivateDir(dir);
  // Read when first needed: node:path loads Deno's Node layer, which a service never needs.
  const { join } = await import("node:path");
  const keyPath = join(dir, ISSUER_KEY_FILE);
  const pubPath = join(dir, ISSUER_PUB_FILE);
  if (!opts.overwrite) {
    for (const p of [keyPath, pubPath]) {
      if (await exists(p)) throw new Deno.errors.AlreadyExists(`${p} exists`);
    }
  }
  const issuer = await generateIssuer();
  await writeSecretFile(keyPath, issuer.seedBase64, opts);
  // The public key is not secret, but owner-only costs nothing and keeps the folder uniform.
  await writeSecretFile(pubPath, issuer.publicKey, opts);
  return issuer;
}

/**
 * The issuer of a key file (a base64 Ed25519 seed).
 * @throws {Deno.errors.NotFound} when the file is missing (and other read errors; FileTooLargeError
 * over 1 MiB, ReadTimeoutError when no data arrives within IATP_FILE_READ_TIMEOUT).
 * @throws {CredentialError} `malformed` when it does not hold a 32-byte seed.
 */
export async function readIssuerKey(path: string): Promise<Issuer> {
  return await issuerFromSeed(await readTextWithin(path));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
