/**
 * Who may approve a request from a low-trust agent. The override header must equal a
 * server-side secret (at least 16 characters, not a well-known weak value), compared in
 * constant time; the Go sidecar's literal `true` is accepted only in explicit legacy mode.
 * @module
 */
import { constantTimeEqual, sha256Js } from "../crypto/mod.ts";

/** Shortest override secret accepted. */
const MIN_OVERRIDE_TOKEN_LENGTH = 16;
/** Fewest distinct characters a secret must have. */
const MIN_OVERRIDE_TOKEN_DISTINCT = 6;

const WEAK_WORDS = [
  "true",
  "yes",
  "1",
  "admin",
  "password",
  "secret",
  "changeme",
  "override",
  "default",
  "token",
  "letmein",
  "qwerty",
  "test",
  "example",
];

/** Why a candidate secret is weak, or undefined when it is acceptable. */
export function overrideTokenWeakness(token: string): string | undefined {
  if (token.length < MIN_OVERRIDE_TOKEN_LENGTH) {
    return `shorter than ${MIN_OVERRIDE_TOKEN_LENGTH} characters`;
  }
  const lower = token.toLowerCase();
  if (new Set(lower).size < MIN_OVERRIDE_TOKEN_DISTINCT) {
    return `fewer than ${MIN_OVERRIDE_TOKEN_DISTINCT} distinct characters`;
  }
  // A repeated unit ("passwordpassword", "abcabcabc...") or a weak word padded with digits
  // and punctuation ("changeme-2024!!!") is as guessable as the word itself.
  if (/^(.+?)\1+$/.test(lower)) return "a repeated pattern";
  const core = lower.replace(/[^a-z]/g, "");
  if (WEAK_WORDS.includes(core) || WEAK_WORDS.some((w) => core === w + w)) {
    return "a well-known weak value";
  }
  return undefined;
}

/** How overrides are checked. */
export interface OverridePolicy {
  /** `token`: secret required; `disabled`: no override possible. Legacy adds literal `true`. */
  readonly mode: "token" | "disabled";
  readonly legacy: boolean;
  /** Messages to log at startup (why overrides are disabled, legacy warning). */
  readonly notices: Array<{ level: "warn" | "info"; msg: string }>;
  /** True when `header` (the X-User-Override value) approves the request. */
  accepts(header: string | null | undefined): boolean;
}

function sha256(text: string): Uint8Array {
  return sha256Js(new TextEncoder().encode(text));
}

/** Builds the policy from the configured secret and legacy switch. */
export function createOverridePolicy(
  opts: {
    token?: string;
    legacy?: boolean;
    /**
     * How the start-up notices name the secret's and the switch's settings, with where each
     * value came from (`override_token (env IATP_TRUSTED_USER_OVERRIDE_TOKEN)`); by default
     * their iatp names.
     */
    names?: { token?: string; legacy?: string };
  },
): OverridePolicy {
  const notices: OverridePolicy["notices"] = [];
  const legacy = opts.legacy === true;
  // Surrounding whitespace is not part of the secret (a value read from a file or an env file
  // keeps its newline), as the Python sidecar strips it: a header never carries it.
  const token = opts.token?.trim();
  const tokenName = opts.names?.token ?? "override_token (IATP_OVERRIDE_TOKEN)";
  let secretDigest: Uint8Array | undefined;
  if (!token) {
    notices.push({
      level: "info",
      msg: opts.token === undefined || opts.token === ""
        ? "override disabled: override_token is not set (IATP_OVERRIDE_TOKEN, or the Python " +
          "sidecar's IATP_TRUSTED_USER_OVERRIDE_TOKEN)"
        : `override disabled: ${tokenName} is blank`,
    });
  } else {
    const weak = overrideTokenWeakness(token);
    if (weak) {
      notices.push({ level: "warn", msg: `override disabled: ${tokenName} is ${weak}` });
    } else {
      secretDigest = sha256(token);
    }
  }
  if (legacy) {
    notices.push({
      level: "warn",
      msg: `${opts.names?.legacy ?? "legacy_override (IATP_LEGACY_OVERRIDE)"} is true: any ` +
        "caller sending X-User-Override: true can approve low-trust requests",
    });
  }
  const secret = secretDigest;
  return {
    mode: secret ? "token" : "disabled",
    legacy,
    notices,
    accepts(header) {
      if (header === null || header === undefined || header === "") return false;
      header = header.trim();
      if (legacy && header === "true") return true;
      if (!secret || header.length > 4096) return false;
      // Hashing both sides gives equal-length inputs, so the comparison leaks neither the
      // secret's length nor the position of the first differing byte.
      return constantTimeEqual(sha256(header), secret);
    },
  };
}
