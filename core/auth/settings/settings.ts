/**
 * What a service's settings need of mesh auth before any credential is checked: `file:PATH`
 * secrets read (and kept out of logs), issuer public keys parsed, subject names. Apart from
 * core/auth so that a service that only reads such settings (the sensor and action agents)
 * does not load the verifier, the signing and the middleware with them.
 * @module
 */
import { ConfigError, type ConfigSource } from "../../errors/mod.ts";
import { readTextUpTo, unreadableWhy } from "../../config/mod.ts";
import { registerSecret } from "../../log/mod.ts";
import { decodeBase64 } from "../../encoding/mod.ts";

/** Prefix of a public key in text form: `iatp-ed25519:<base64url of the raw 32 bytes>`. */
export const PUBLIC_KEY_PREFIX = "iatp-ed25519:";
/**
 * Subject names: who holds the credential (a service, an agent, a person). Also the names a
 * principal is listed by (`relay.task_publishers`), where `token:<8 hex>` names a static token.
 */
export const SUBJECT_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/**
 * The prefix of a static token's principal (`token:` and 8 hex digits of its digest). No signed
 * credential's subject starts with it: one that did would be that token's principal, obeyed where
 * the token is listed (`relay.task_publishers`) and counted with it.
 */
const STATIC_TOKEN_PREFIX = "token:";

/** True when `sub` may be a signed credential's subject. */
export function isCredentialSubject(sub: string): boolean {
  return SUBJECT_PATTERN.test(sub) && !sub.startsWith(STATIC_TOKEN_PREFIX);
}

/** Why a credential was refused; the message never contains the credential. */
export type CredentialFailure =
  | "malformed"
  | "unknown_key"
  | "bad_signature"
  | "expired"
  | "not_yet_valid"
  | "revoked";

/** A refused credential. `reason` is for logs and metrics; clients see one generic 401. */
export class CredentialError extends Error {
  override name = "CredentialError";
  constructor(readonly reason: CredentialFailure, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The raw 32 bytes of a public key in text form.
 * @throws {CredentialError} `malformed` when it is not `iatp-ed25519:` + 32 bytes of base64url.
 */
export function parsePublicKey(text: string): Uint8Array {
  const t = text.trim();
  if (!t.startsWith(PUBLIC_KEY_PREFIX) || !/^[A-Za-z0-9_-]{43}$/.test(t.slice(13))) {
    throw new CredentialError("malformed", "expected a public key iatp-ed25519:<43 base64url>");
  }
  return decodeBase64(t.slice(PUBLIC_KEY_PREFIX.length));
}

/**
 * Reads a setting given as `file:PATH` (the trimmed file content) or returns it trimmed of
 * surrounding whitespace; the value is registered as a secret so it never reaches a log. A pipe (`file:<(...)`) is read
 * ahead, within `IATP_FILE_READ_TIMEOUT`, when the command's configuration is parsed.
 * A value is one line: a line break or another control character (but a tab) within it, such as
 * a second line in the file, is refused at start, where it would be sent in a header (a bearer
 * credential) that the HTTP client refuses on every call, or be a key or password that no peer
 * holds. `multiline` reads a list setting's file (one item per line).
 * @throws {ConfigError} naming the setting when the file cannot be read or is larger than
 * `MAX_SETTING_FILE_BYTES`, or when a value holds a control character (never shown).
 */
export function resolveSecretSetting(
  key: string,
  value: string | undefined,
  source: ConfigSource = { kind: "default" },
  multiline = false,
): string | undefined {
  if (value === undefined || value === "") return undefined;
  // Whitespace around a value is not part of it, as around a file's: an env file or a mounted
  // secret often ends the value with a line break.
  let out = value.trim();
  if (out === "") return undefined;
  const file = out.startsWith("file:") ? out.slice(5) : undefined;
  if (file !== undefined) {
    try {
      out = readTextUpTo(file).trim();
    } catch (err) {
      throw new ConfigError(key, source, `a readable file at ${file}`, unreadableWhy(err), {
        cause: err,
      });
    }
  }
  registerSecret(out);
  // deno-lint-ignore no-control-regex
  const control = multiline ? -1 : out.search(/[\x00-\x08\x0a-\x1f\x7f]/);
  if (control >= 0) {
    const what = /[\r\n]/.test(out[control]) ? "a line break" : "a control character";
    throw new ConfigError(
      key,
      source,
      file === undefined ? "a value of one line" : `one line in the file at ${file}`,
      `${what} at character ${control + 1} of ${out.length}`,
    );
  }
  return out;
}

/**
 * Expands `file:PATH` entries of `auth_keys` (one key per non-empty, non-# line) and checks
 * every key parses.
 * @throws {ConfigError} naming `auth_keys` for an unreadable file or a malformed key.
 */
export function resolveAuthKeys(keys: string[], source?: ConfigSource): string[] {
  const out: string[] = [];
  for (const entry of keys) {
    const text = entry.startsWith("file:")
      ? resolveSecretSetting("auth_keys", entry, source, true)!
      : entry;
    for (const [i, line] of text.split("\n").entries()) {
      const k = line.trim();
      if (k === "" || k.startsWith("#")) continue;
      try {
        parsePublicKey(k);
      } catch (err) {
        if (!(err instanceof CredentialError)) throw err;
        const where = entry.startsWith("file:") ? ` (line ${i + 1} of ${entry.slice(5)})` : "";
        throw new ConfigError(
          "auth_keys",
          source ?? { kind: "default" },
          "public keys of the form iatp-ed25519:<43 base64url characters>",
          notAKey(k) + where,
          { cause: err },
        );
      }
      out.push(k);
    }
  }
  return out;
}

/**
 * What an entry of auth_keys that is not a public key looks like, without its value: it may be a
 * secret given by mistake (the issuer's private seed, a credential).
 */
function notAKey(entry: string): string {
  let bytes = -1;
  try {
    bytes = decodeBase64(entry).length;
  } catch { /* not base64 */ }
  if (bytes === 32) {
    return "a private key (give its public key: issuer.pub beside an issuer.key from " +
      "iatp token keygen, FILE.pub beside a FILE from iatp plugin keygen)";
  }
  if (entry.startsWith("iatp1.")) return "a credential (give the issuer's public key, issuer.pub)";
  // A file name given without its prefix: say how to name a file (the value is not echoed).
  const hint = /[/\\]|\.(pub|key|txt)$/.test(entry) ? " (a file name? give it as file:PATH)" : "";
  return `a value of ${entry.length} characters that is not one${hint}`;
}
