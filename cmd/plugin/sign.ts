/**
 * `iatp plugin keygen|sign|verify`: make a signing key, sign a plugin folder (plugin.sig), and
 * check one against trusted keys. Exit 0 done/verified, 1 not verified, 2 bad usage.
 * @module
 */
import {
  CredentialError,
  generateIssuer,
  type Issuer,
  readIssuerKey,
  resolveAuthKeys,
} from "../../core/auth/mod.ts";
import { FileTooLargeError, permittedEnv, readFileRefsAhead } from "../../core/config/mod.ts";
import { CheckFailedError, ConfigError, errorMessage, UsageError } from "../../core/errors/mod.ts";
import {
  PluginSignatureError,
  SIGNATURE_FILE,
  signPlugin,
  verifyPlugin,
} from "../../core/plugin/mod.ts";
import { print } from "../shared.ts";

/** Env var read by `verify` when no `--trusted-keys` is given (the action agent's setting). */
export const TRUSTED_KEYS_ENV = "IATP_PLUGINS_TRUSTED_KEYS";

/** Usage lines of the signing verbs. */
export const SIGN_USAGE = `  iatp plugin keygen --out FILE
  iatp plugin sign DIR --key FILE
  iatp plugin verify DIR [--trusted-keys KEY|file:PATH]...

keygen    write a new Ed25519 signing key to FILE (0600) and its public key to FILE.pub
sign      write DIR/${SIGNATURE_FILE}: the key id, the digest of every file in DIR, the signature
verify    exit 0 when DIR is exactly what a trusted key signed, 1 naming why not
          (unsigned, unknown_key, bad_signature, digest_mismatch, unsupported_file, ...);
          without --trusted-keys, the keys in ${TRUSTED_KEYS_ENV} (comma-separated)`;

/**
 * Turns a failed write into a usage error naming the flag or argument (`what`) and the path: a
 * write the launcher did not grant, one the OS refused, a missing folder.
 */
function writeFailed(err: unknown, what: string, path: string): never {
  if (err instanceof Deno.errors.NotCapable) {
    throw new UsageError(
      `${what}: no permission to write ${path}; with scripts/iatp, allow it: IATP_ALLOW_WRITE=<folder>`,
    );
  }
  if (err instanceof Deno.errors.NotFound) {
    throw new UsageError(`${what}: cannot write ${path}: its folder does not exist`);
  }
  const line = errorMessage(err).split("\n")[0];
  if (/\(os error \d+\)/.test(line)) throw new UsageError(`${what}: cannot write ${path}: ${line}`);
  throw err;
}

/**
 * `keygen --out FILE`: a fresh key; refuses to overwrite either file.
 * @throws {UsageError} without --out, or when the key file exists
 */
export async function keygen(out: string | undefined): Promise<number> {
  if (!out) throw new UsageError("keygen: missing --out FILE", SIGN_USAGE);
  const pub = `${out}.pub`;
  for (const path of [out, pub]) {
    const exists = await Deno.lstat(path).then(() => true, (err) => {
      if (err instanceof Deno.errors.NotFound) return false;
      writeFailed(err, "--out", path);
    });
    if (exists) throw new UsageError(`keygen: ${path} exists; refusing to overwrite it`);
  }
  const key = await generateIssuer();
  try {
    await Deno.writeTextFile(out, key.seedBase64 + "\n", { mode: 0o600, createNew: true });
    await Deno.chmod(out, 0o600);
    await Deno.writeTextFile(pub, key.publicKey + "\n", { mode: 0o644, createNew: true });
  } catch (err) {
    writeFailed(err, "--out", out);
  }
  print(
    `key ${key.kid} written to ${out} (keep it private)\npublic key (${pub}): ${key.publicKey}`,
  );
  return 0;
}

async function readKey(path: string | undefined): Promise<Issuer> {
  if (!path) throw new UsageError("sign: missing --key FILE", SIGN_USAGE);
  try {
    return await readIssuerKey(path);
  } catch (err) {
    if (err instanceof CredentialError || err instanceof FileTooLargeError) {
      throw new UsageError(
        `--key: ${path} is not a signing key (a base64 32-byte seed from iatp plugin keygen)`,
        undefined,
        { cause: err },
      );
    }
    const why = err instanceof Deno.errors.NotFound ? "no such file" : errorMessage(err);
    throw new UsageError(`--key: cannot read ${path} (${why})`, undefined, { cause: err });
  }
}

async function requireFolder(dir: string): Promise<void> {
  const isDir = await Deno.stat(dir).then((i) => i.isDirectory, () => false);
  if (!isDir) throw new UsageError(`no such folder ${dir}`);
}

/**
 * Refuses a signing key inside the folder it signs: every file there is signed and ships with
 * the plugin, so the private key would go to every agent that installs it.
 * @throws {UsageError} naming the key, the folder and what to do
 */
async function requireKeyOutside(dir: string, keyFile: string): Promise<void> {
  const [folder, key] = await Promise.all([Deno.realPath(dir), Deno.realPath(keyFile)]);
  if (!key.startsWith(folder.endsWith("/") ? folder : `${folder}/`)) return;
  throw new UsageError(
    `--key: ${keyFile} is inside ${dir}, the folder it signs, so the private key would ship ` +
      "with the plugin; keep the key outside the plugin folder (move it, then sign again)",
  );
}

/**
 * `sign DIR --key FILE`: writes DIR/plugin.sig.
 * @throws {UsageError} for a missing folder, an unreadable key or one inside DIR; {CheckFailedError} when the folder cannot be signed
 */
export async function signDir(dir: string, keyFile: string | undefined): Promise<number> {
  const key = await readKey(keyFile);
  await requireFolder(dir);
  await requireKeyOutside(dir, keyFile!);
  try {
    const sig = await signPlugin(dir, key);
    print(`signed ${dir}: key ${sig.key_id}, ${sig.digest} over ${sig.files} file(s)`);
    return 0;
  } catch (err) {
    if (err instanceof PluginSignatureError) {
      throw new CheckFailedError(`not signed (${err.reason}): ${err.message}`, { cause: err });
    }
    writeFailed(err, "sign", `${dir}/${SIGNATURE_FILE}`);
  }
}

async function trustedKeys(flags: string[] | undefined): Promise<string[]> {
  const fromFlag = flags !== undefined && flags.length > 0;
  const given = fromFlag
    ? flags
    : (permittedEnv(TRUSTED_KEYS_ENV) ?? "").split(",").map((k) => k.trim()).filter(Boolean);
  if (given.length === 0) {
    throw new UsageError(
      `verify: no trusted keys: pass --trusted-keys KEY|file:PATH or set ${TRUSTED_KEYS_ENV}`,
      SIGN_USAGE,
    );
  }
  try {
    await readFileRefsAhead(
      "trusted_keys",
      given,
      fromFlag ? { kind: "flag", name: "trusted-keys" } : { kind: "env", name: TRUSTED_KEYS_ENV },
    );
    return resolveAuthKeys(given);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new UsageError(
      `${
        fromFlag ? "--trusted-keys" : TRUSTED_KEYS_ENV
      }: expected ${err.expected}, found ${err.found}`,
      undefined,
      { cause: err },
    );
  }
}

/**
 * `verify DIR [--trusted-keys ...]`.
 * @throws {UsageError} without trusted keys; {CheckFailedError} when the signature does not verify
 */
export async function verifyDir(dir: string, flags: string[] | undefined): Promise<number> {
  const keys = await trustedKeys(flags);
  await requireFolder(dir);
  try {
    const ok = await verifyPlugin(dir, keys);
    print(`verified ${dir}: signed by key ${ok.keyId}, ${ok.digest} over ${ok.files} file(s)`);
    return 0;
  } catch (err) {
    if (err instanceof PluginSignatureError) {
      throw new CheckFailedError(`not verified (${err.reason}): ${err.message}`, { cause: err });
    }
    throw err;
  }
}
