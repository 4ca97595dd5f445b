/**
 * Signed plugins: an Ed25519 signature over a digest of every file in a plugin folder, kept in
 * the folder as `plugin.sig`, so an agent can tell a plugin its operators published from one
 * that anybody could have put on a disk or a git server.
 *
 * The digest is SHA-256 over a canonical listing of the folder: the line
 * `iatp-plugin-digest-v1`, then one line per regular file, `<sha256 hex> <size> <JSON path>`,
 * sorted by the UTF-8 bytes of the path (relative, `/`-separated). `plugin.sig` at the top and
 * `.git` entries at any depth are left out (installs never copy `.git`); a symlink or any other
 * special file is refused, since what it points to could change after signing.
 *
 * Keys are the mesh issuer keys (core/auth/credential.ts): a 32-byte Ed25519 seed in base64 to
 * sign, an `iatp-ed25519:` public key to verify.
 *
 * @example
 * ```ts
 * const key = await generateIssuer();
 * await signPlugin("plugins/my-action", key);
 * const ok = await verifyPlugin("plugins/my-action", [key.publicKey]); // { keyId, digest, ... }
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type Issuer, keyIdOf, parsePublicKey } from "../auth/mod.ts";
import { sign, verify } from "../crypto/mod.ts";
import { decodeBase64, encodeBase64 } from "../encoding/mod.ts";
import { printable } from "../log/mod.ts";

/** The signature file at the top of a signed plugin folder. */
export const SIGNATURE_FILE = "plugin.sig";
/** Format tag of plugin.sig, also the domain separator of what is signed. */
export const SIGNATURE_FORMAT = "iatp-plugin-sig-v1";
/** First line of the canonical listing the digest covers. */
const DIGEST_HEADER = "iatp-plugin-digest-v1";
/** Largest plugin.sig read. */
const MAX_SIGNATURE_BYTES = 4096;
/** Default bound on the files a digest covers. */
const DEFAULT_DIGEST_MAX_FILES = 10_000;
/** Default bound on the bytes a digest reads. */
const DEFAULT_DIGEST_MAX_BYTES = 256 * 1024 * 1024;

/** Why a plugin folder does not verify (or cannot be signed). */
export type SignatureFailure =
  | "unsigned"
  | "malformed"
  | "unknown_key"
  | "bad_signature"
  | "digest_mismatch"
  | "unsupported_file"
  | "too_large";

/** A folder that does not verify; `reason` is machine-readable, the message says it in words. */
export class PluginSignatureError extends Error {
  override name = "PluginSignatureError";
  constructor(readonly reason: SignatureFailure, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The content of plugin.sig. */
export interface PluginSignature {
  format: typeof SIGNATURE_FORMAT;
  algorithm: "ed25519";
  /** Key id of the signing key (first 16 hex of SHA-256 of the raw public key). */
  key_id: string;
  /** `sha256:<hex>` of the canonical listing. */
  digest: string;
  /** Base64 Ed25519 signature over `iatp-plugin-sig-v1\n<digest>\n`. */
  signature: string;
}

/** Bounds of a digest walk. */
export interface DigestOptions {
  maxFiles?: number;
  maxBytes?: number;
}

/** A folder's digest and what it covered. */
export interface PluginDigest {
  digest: string;
  files: number;
  bytes: number;
}

interface Entry {
  path: string;
  size: number;
  sha256: string;
}

const encoder = new TextEncoder();

function compareUtf8(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

async function hashFile(path: string): Promise<string> {
  const h = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) h.update(chunk);
  return h.digest("hex");
}

async function walk(
  root: string,
  rel: string,
  out: Entry[],
  budget: { files: number; bytes: number; maxFiles: number; maxBytes: number },
): Promise<void> {
  for await (const entry of Deno.readDir(rel ? join(root, rel) : root)) {
    if (entry.name === ".git" || (rel === "" && entry.name === SIGNATURE_FILE)) continue;
    const path = rel ? `${rel}/${entry.name}` : entry.name;
    const info = await Deno.lstat(join(root, path)).catch((err) => {
      // A name that is not UTF-8 is read with U+FFFD in place of its bytes, which names no file
      // (and would name the same one for other bytes): the listing could not tell them apart.
      if (err instanceof Deno.errors.NotFound && entry.name.includes("\uFFFD")) {
        throw new PluginSignatureError(
          "unsupported_file",
          `a file name that is not UTF-8: ${printable(path)} (rename it)`,
        );
      }
      throw err;
    });
    if (info.isSymlink) {
      throw new PluginSignatureError(
        "unsupported_file",
        `symlinks are not allowed: ${printable(path)}`,
      );
    }
    if (info.isDirectory) {
      await walk(root, path, out, budget);
      continue;
    }
    if (!info.isFile) {
      throw new PluginSignatureError("unsupported_file", `not a regular file: ${printable(path)}`);
    }
    budget.files++;
    budget.bytes += info.size;
    if (budget.files > budget.maxFiles) {
      throw new PluginSignatureError("too_large", `more than ${budget.maxFiles} files`);
    }
    if (budget.bytes > budget.maxBytes) {
      throw new PluginSignatureError("too_large", `more than ${budget.maxBytes} bytes`);
    }
    out.push({ path, size: info.size, sha256: await hashFile(join(root, path)) });
  }
}

/**
 * The digest of a plugin folder (see the module doc for what it covers).
 * @throws {PluginSignatureError} `unsupported_file` for a symlink or special file, `too_large`
 * past the bounds.
 * @throws {Deno.errors.NotFound} when the folder does not exist.
 */
export async function pluginDigest(dir: string, opts: DigestOptions = {}): Promise<PluginDigest> {
  const entries: Entry[] = [];
  const budget = {
    files: 0,
    bytes: 0,
    maxFiles: opts.maxFiles ?? DEFAULT_DIGEST_MAX_FILES,
    maxBytes: opts.maxBytes ?? DEFAULT_DIGEST_MAX_BYTES,
  };
  await walk(dir, "", entries, budget);
  entries.sort((a, b) => compareUtf8(a.path, b.path));
  const h = createHash("sha256").update(`${DIGEST_HEADER}\n`);
  for (const e of entries) h.update(`${e.sha256} ${e.size} ${JSON.stringify(e.path)}\n`);
  return { digest: `sha256:${h.digest("hex")}`, files: budget.files, bytes: budget.bytes };
}

function signedMessage(digest: string): string {
  return `${SIGNATURE_FORMAT}\n${digest}\n`;
}

/**
 * Signs a plugin folder with `key` and writes `plugin.sig` into it (replacing an older one).
 * @throws {PluginSignatureError} when the folder holds a symlink or exceeds the bounds.
 */
export async function signPlugin(
  dir: string,
  key: Issuer,
  opts: DigestOptions = {},
): Promise<PluginSignature & { files: number }> {
  const d = await pluginDigest(dir, opts);
  const sig: PluginSignature = {
    format: SIGNATURE_FORMAT,
    algorithm: "ed25519",
    key_id: key.kid,
    digest: d.digest,
    signature: encodeBase64(await sign(key.keys.privateKey, signedMessage(d.digest))),
  };
  await Deno.writeTextFile(join(dir, SIGNATURE_FILE), JSON.stringify(sig, null, 2) + "\n", {
    mode: 0o644,
  });
  return { ...sig, files: d.files };
}

function isSignature(v: unknown): v is PluginSignature {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return s.format === SIGNATURE_FORMAT && s.algorithm === "ed25519" &&
    typeof s.key_id === "string" && /^[0-9a-f]{16}$/.test(s.key_id) &&
    typeof s.digest === "string" && /^sha256:[0-9a-f]{64}$/.test(s.digest) &&
    typeof s.signature === "string" && /^[A-Za-z0-9+/]{86}==$/.test(s.signature);
}

/**
 * Reads and checks the shape of `DIR/plugin.sig`.
 * @throws {PluginSignatureError} `unsigned` when there is none, `malformed` when it is not a
 * plugin signature, `unsupported_file` when it is a symlink.
 */
export async function readSignature(dir: string): Promise<PluginSignature> {
  const path = join(dir, SIGNATURE_FILE);
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new PluginSignatureError("unsigned", `no ${SIGNATURE_FILE}: the plugin is unsigned`, {
        cause: err,
      });
    }
    throw err;
  }
  if (info.isSymlink) {
    throw new PluginSignatureError("unsupported_file", `${SIGNATURE_FILE} is a symlink`);
  }
  if (!info.isFile || info.size > MAX_SIGNATURE_BYTES) {
    throw new PluginSignatureError(
      "malformed",
      `${SIGNATURE_FILE} is not a file of at most ${MAX_SIGNATURE_BYTES} bytes`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    throw new PluginSignatureError("malformed", `${SIGNATURE_FILE} is not JSON`, { cause: err });
  }
  if (!isSignature(parsed)) {
    throw new PluginSignatureError(
      "malformed",
      `${SIGNATURE_FILE} is not an ${SIGNATURE_FORMAT} signature`,
    );
  }
  return parsed;
}

/** What a successful verification found. */
export interface VerifiedPlugin {
  keyId: string;
  digest: string;
  files: number;
}

/**
 * Verifies that `dir` is exactly what a trusted key signed: the signature file names a key in
 * `trustedKeys`, its signature over the recorded digest is valid, and the folder's digest now
 * equals the recorded one.
 * @param trustedKeys public keys in text form (`iatp-ed25519:...`)
 * @throws {PluginSignatureError} naming why it does not verify.
 * @throws {import("../auth/credential.ts").CredentialError} when a trusted key is malformed.
 */
export async function verifyPlugin(
  dir: string,
  trustedKeys: Iterable<string>,
  opts: DigestOptions = {},
): Promise<VerifiedPlugin> {
  const sig = await readSignature(dir);
  const keys = new Map<string, Uint8Array>();
  for (const text of trustedKeys) {
    const raw = parsePublicKey(text);
    keys.set(keyIdOf(raw), raw);
  }
  const key = keys.get(sig.key_id);
  if (!key) {
    throw new PluginSignatureError(
      "unknown_key",
      `signed by an unknown key ${sig.key_id}`,
    );
  }
  if (!await verify(key, decodeBase64(sig.signature), signedMessage(sig.digest))) {
    throw new PluginSignatureError(
      "bad_signature",
      `the signature of key ${sig.key_id} over ${sig.digest} is invalid`,
    );
  }
  const now = await pluginDigest(dir, opts);
  if (now.digest !== sig.digest) {
    throw new PluginSignatureError(
      "digest_mismatch",
      `digest mismatch: the folder is ${now.digest}, the signature covers ${sig.digest} ` +
        "(a file was changed, added or removed after signing)",
    );
  }
  return { keyId: sig.key_id, digest: now.digest, files: now.files };
}
