/**
 * Mesh credentials: bearer tokens signed with an issuer's Ed25519 key, carrying who holds them,
 * what they may do (scopes), when they were issued and when they expire. A service verifies them
 * with the issuer's public key alone, so no service holds another service's secret.
 *
 * Wire form: `iatp1.<base64url(claims JSON)>.<base64url(Ed25519 signature)>`, where the
 * signature covers the ASCII bytes `iatp1.<base64url(claims JSON)>`.
 *
 * @example
 * ```ts
 * const issuer = await generateIssuer();
 * const token = await issueCredential(issuer, { sub: "policy", scopes: ["audit:append"] });
 * const verifier = new CredentialVerifier([issuer.publicKey]);
 * const claims = await verifier.verify(token); // { sub: "policy", scopes: [...], ... }
 * ```
 * @module
 */
import {
  type Ed25519KeyPair,
  generateKeyPair,
  importPublicKey,
  importSeed,
  sha256Hex,
  sign,
} from "../crypto/mod.ts";
import { decodeBase64, encodeBase64Url } from "../encoding/mod.ts";
import { isMeshScope } from "./grants.ts";
import type { RevokedIds } from "./mesh/mod.ts";
import {
  CredentialError,
  isCredentialSubject,
  parsePublicKey,
  PUBLIC_KEY_PREFIX,
} from "./settings/mod.ts";

/** First segment of every credential; versions the format. */
const CREDENTIAL_PREFIX = "iatp1";
/** Longest credential accepted (bounds parsing work on hostile input). */
const MAX_CREDENTIAL_CHARS = 8192;
/** Default lifetime of an issued credential: one year. */
const DEFAULT_CREDENTIAL_TTL_MS = 365 * 24 * 3_600_000;
/** Default number of verified credentials remembered (saves a signature check per request). */
const DEFAULT_VERIFY_CACHE = 1024;

/** What a credential says. Times are unix seconds. */
export interface Claims {
  /** Who holds it. */
  sub: string;
  /** What it allows, in the mesh scope vocabulary (see grants.ts). */
  scopes: string[];
  /** Issued at. */
  iat: number;
  /** Expires at; absent means it never expires. */
  exp?: number;
  /** Unique id, for revocation lists. */
  jti: string;
  /** Id of the issuer key that signed it. */
  kid: string;
}

/** An issuer: the key pair that signs credentials, with its id and public key text. */
export interface Issuer {
  keys: Ed25519KeyPair;
  /** Key id: the first 16 hex digits of SHA-256 of the raw public key. */
  kid: string;
  /** `iatp-ed25519:...`, what verifying services are configured with. */
  publicKey: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The key id of a raw public key. */
export function keyIdOf(publicRaw: Uint8Array): string {
  return sha256Hex(publicRaw).slice(0, 16);
}

/** The text form of a raw public key. */
function formatPublicKey(publicRaw: Uint8Array): string {
  return PUBLIC_KEY_PREFIX + encodeBase64Url(publicRaw);
}

function issuerOf(keys: Ed25519KeyPair): Issuer {
  return { keys, kid: keyIdOf(keys.publicRaw), publicKey: formatPublicKey(keys.publicRaw) };
}

/** A fresh issuer, with its private seed (base64) for {@linkcode issuerFromSeed}. */
export async function generateIssuer(): Promise<Issuer & { seedBase64: string }> {
  const fresh = await generateKeyPair();
  return { ...issuerOf(fresh), seedBase64: fresh.seedBase64 };
}

/**
 * The issuer of a base64 Ed25519 seed (the content of an issuer key file).
 * @throws {CredentialError} `malformed` when the seed is not 32 bytes of base64.
 */
export async function issuerFromSeed(seedBase64: string): Promise<Issuer> {
  let seed: Uint8Array;
  try {
    seed = decodeBase64(seedBase64.trim());
  } catch (err) {
    throw new CredentialError("malformed", "issuer key is not base64", { cause: err });
  }
  if (seed.length !== 32) {
    throw new CredentialError("malformed", `issuer key must be a 32-byte seed, not ${seed.length}`);
  }
  return issuerOf(await importSeed(seed));
}

/** What to put in a new credential. */
export interface IssueOptions {
  sub: string;
  scopes: string[];
  /** Lifetime in ms; default one year; 0 for a credential that never expires. */
  ttlMs?: number;
  /** Now, in ms (tests). */
  now?: number;
}

/**
 * Signs a new credential.
 * @throws {RangeError} when the subject or a scope is not valid.
 */
export async function issueCredential(issuer: Issuer, opts: IssueOptions): Promise<string> {
  if (!isCredentialSubject(opts.sub)) throw new RangeError(`invalid subject ${opts.sub}`);
  const bad = opts.scopes.find((s) => !isMeshScope(s));
  if (bad !== undefined) throw new RangeError(`invalid scope ${JSON.stringify(bad)}`);
  const now = Math.floor((opts.now ?? Date.now()) / 1000);
  const ttl = opts.ttlMs ?? DEFAULT_CREDENTIAL_TTL_MS;
  const claims: Claims = {
    sub: opts.sub,
    scopes: [...opts.scopes],
    iat: now,
    ...(ttl > 0 ? { exp: now + Math.ceil(ttl / 1000) } : {}),
    jti: encodeBase64Url(crypto.getRandomValues(new Uint8Array(12))),
    kid: issuer.kid,
  };
  const head = `${CREDENTIAL_PREFIX}.${encodeBase64Url(encoder.encode(JSON.stringify(claims)))}`;
  return `${head}.${encodeBase64Url(await sign(issuer.keys.privateKey, head))}`;
}

/** True when `text` has the shape of a mesh credential (not whether it verifies). */
export function looksLikeCredential(text: string): boolean {
  return text.startsWith(CREDENTIAL_PREFIX + ".") && text.length <= MAX_CREDENTIAL_CHARS;
}

/**
 * Decodes the claims without verifying them (for `iatp token inspect`).
 * @throws {CredentialError} `malformed` when the text is not a credential.
 */
export function decodeClaims(token: string): Claims {
  const parts = token.trim().split(".");
  if (
    parts.length !== 3 || parts[0] !== CREDENTIAL_PREFIX || token.length > MAX_CREDENTIAL_CHARS ||
    !/^[A-Za-z0-9_-]+$/.test(parts[1]) || !/^[A-Za-z0-9_-]{86}$/.test(parts[2])
  ) {
    throw new CredentialError("malformed", "not an iatp1 credential");
  }
  // One credential, one text: base64url has spare low bits in its last character, and a text
  // differing only there would decode to the same signature and claims (a second text for a
  // credential a deny list, a log scrubber or a cache keyed by text knows by its first).
  const canonical = (part: string) => {
    try {
      return encodeBase64Url(decodeBase64(part)) === part;
    } catch {
      return false;
    }
  };
  if (!canonical(parts[1]) || !canonical(parts[2])) {
    throw new CredentialError("malformed", "credential is not in canonical base64url");
  }
  let claims: unknown;
  try {
    claims = JSON.parse(decoder.decode(decodeBase64(parts[1])));
  } catch (err) {
    throw new CredentialError("malformed", "credential claims are not JSON", { cause: err });
  }
  if (!isClaims(claims)) throw new CredentialError("malformed", "credential claims are incomplete");
  return claims;
}

function isClaims(v: unknown): v is Claims {
  if (typeof v !== "object" || v === null) return false;
  const c = v as Record<string, unknown>;
  return typeof c.sub === "string" && isCredentialSubject(c.sub) &&
    Array.isArray(c.scopes) && c.scopes.every((s) => typeof s === "string" && isMeshScope(s)) &&
    Number.isSafeInteger(c.iat) && (c.exp === undefined || Number.isSafeInteger(c.exp)) &&
    typeof c.jti === "string" && c.jti.length <= 64 && typeof c.kid === "string";
}

/** Options for {@linkcode CredentialVerifier}. */
interface VerifierOptions {
  /** Credential ids (`jti`) refused even when they verify: ids, or a live list. */
  revoked?: Iterable<string> | RevokedIds;
  /** Clock skew tolerated on `iat`, in seconds (default 60). */
  leewaySecs?: number;
  /** Verified credentials remembered (default 1024). */
  cacheSize?: number;
  /** Now, in ms (tests). */
  now?: () => number;
}

/** Verifies credentials against a set of trusted issuer public keys. */
export class CredentialVerifier {
  readonly #keys = new Map<string, Promise<CryptoKey>>();
  readonly #revoked: RevokedIds;
  readonly #cache = new Map<string, Claims>();
  readonly #cacheSize: number;
  readonly #leeway: number;
  readonly #now: () => number;

  /**
   * @param publicKeys issuer keys in text form (`iatp-ed25519:...`).
   * @throws {CredentialError} `malformed` when a key cannot be parsed.
   */
  constructor(publicKeys: Iterable<string>, opts: VerifierOptions = {}) {
    for (const text of publicKeys) {
      const raw = parsePublicKey(text);
      this.#keys.set(keyIdOf(raw), importPublicKey(raw));
    }
    const r = opts.revoked ?? [];
    this.#revoked = "has" in r && typeof r.has === "function" ? r : new Set(r as Iterable<string>);
    this.#cacheSize = opts.cacheSize ?? DEFAULT_VERIFY_CACHE;
    this.#leeway = opts.leewaySecs ?? 60;
    this.#now = opts.now ?? Date.now;
  }

  /** Number of trusted issuer keys. */
  get size(): number {
    return this.#keys.size;
  }

  /**
   * The claims of a valid credential.
   * @throws {CredentialError} naming why it is refused.
   */
  async verify(token: string): Promise<Claims> {
    const cached = this.#cache.get(token);
    const claims = cached ?? await this.#check(token);
    const now = Math.floor(this.#now() / 1000);
    if (claims.exp !== undefined && now >= claims.exp) {
      this.#cache.delete(token);
      throw new CredentialError("expired", "credential expired");
    }
    if (claims.iat > now + this.#leeway) {
      throw new CredentialError("not_yet_valid", "credential issued in the future");
    }
    // A due re-read of a revocation file is waited for, off this thread: a revocation counts
    // from the first credential checked after it.
    const checking = this.#revoked.checked?.();
    if (checking) await checking;
    if (this.#revoked.has(claims.jti)) throw new CredentialError("revoked", "credential revoked");
    if (!cached) {
      if (this.#cache.size >= this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(token, claims);
    }
    return claims;
  }

  async #check(token: string): Promise<Claims> {
    const claims = decodeClaims(token);
    const key = this.#keys.get(claims.kid);
    if (!key) throw new CredentialError("unknown_key", "credential signed by an unknown issuer");
    const cut = token.lastIndexOf(".");
    let ok = false;
    try {
      ok = await crypto.subtle.verify(
        "Ed25519",
        await key,
        decodeBase64(token.slice(cut + 1)),
        encoder.encode(token.slice(0, cut)),
      );
    } catch (err) {
      throw new CredentialError("bad_signature", "credential signature is invalid", { cause: err });
    }
    if (!ok) throw new CredentialError("bad_signature", "credential signature is invalid");
    return claims;
  }
}
