/**
 * Secret scrubbing for everything that is written out: logs, traces, audit lines.
 *
 * Three layers: sensitive keys (whole value replaced), secret-shaped values (bearer tokens, JWTs,
 * PEM keys, `password=` in URLs), and values registered at runtime (config fields marked secret),
 * plus process-wide hooks (the PII scrubber registers itself here).
 * @module
 */

/** Placeholder for any secret value. */
export const REDACTED = "[REDACTED]";

/**
 * A function that rewrites one string, removing what it recognises. `key` is the member name
 * the string was the value of, when there was one (context for what the value means).
 */
export type Scrubber = (value: string, key?: string) => string;

const SENSITIVE_KEY =
  /(authorization|token|secret|passw(or)?d|api[_-]?key|private[_-]?key|signing[_-]?key|cookie|credential|session[_-]?id|x-user-override|x-agent-signature)/i;

const VALUE_PATTERNS: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, REDACTED],
  [/\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{4,}/gi, `$1 ${REDACTED}`],
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, REDACTED],
  // Mesh credentials (core/auth/credential.ts), wherever they appear, not only after "Bearer".
  [/\biatp1\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/g, REDACTED],
  [
    /\b((?:access_|api_|auth_|refresh_)?(?:token|secret|password|passwd|api_?key|key))=([^&\s"']+)/gi,
    `$1=${REDACTED}`,
  ],
  [/(\/\/[^/\s:@]+:)[^@\s/]+@/g, `$1${REDACTED}@`],
];

/**
 * What every secret shape above contains (a superset: PEM header, the scheme words, a JWT's
 * `eyJ`, a mesh credential's `iatp1.`, `=` and `@`): one test spares the six replacements on
 * the strings most log lines and records are made of.
 */
const MAY_HOLD_SECRET_SHAPE = /-----BEGIN|bearer|basic|token|eyj|iatp1\.|[=@]/i;

const secrets = new Set<string>();
const hooks: Scrubber[] = [];

/** Registers a secret value (>= 4 chars) so it is replaced wherever it appears in written output. */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value === "string" && value.length >= 4) secrets.add(value);
}

/** Adds a process-wide scrubber hook (e.g. card and SSN redaction). Idempotent per function. */
export function addScrubber(fn: Scrubber): void {
  if (!hooks.includes(fn)) hooks.push(fn);
}

/** True when a field name denotes a secret (Authorization, api_key, token, password, ...). */
export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

/**
 * Scrubs one string: secret shapes, registered secrets, then the hooks (given `key`, the member
 * name the string was the value of, when known).
 */
export function scrubString(value: string, key?: string): string {
  let out = value;
  if (MAY_HOLD_SECRET_SHAPE.test(value)) {
    for (const [re, replacement] of VALUE_PATTERNS) out = out.replace(re, replacement);
  }
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  for (const hook of hooks) out = hook(out, key);
  return out;
}

/** Maximum nesting scrubbed before a value is replaced by a marker (bounds work on hostile input). */
const SCRUB_MAX_DEPTH = 32;

/**
 * Deep-scrubs any JSON-like value, member names included; sensitive keys lose their whole
 * value. Never mutates input.
 * `key` is the member name holding `value` (an array passes its own down to its items).
 */
export function scrub(value: unknown, depth = 0, key?: string): unknown {
  if (typeof value === "string") return scrubString(value, key);
  if (value === null || typeof value !== "object") return value;
  if (depth >= SCRUB_MAX_DEPTH) return "[TOO_DEEP]";
  if (value instanceof Error) {
    return {
      name: value.name,
      message: scrubString(value.message),
      ...(value.stack ? { stack: scrubString(value.stack) } : {}),
    };
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1, key));
  if (value instanceof Headers) return scrub(Object.fromEntries(value.entries()), depth);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // A member name is written out too: a card number or a credential used as a key is
    // scrubbed like any other string (the value is still judged by the name as sent).
    out[scrubString(k)] = isSensitiveKey(k) && v !== null && v !== undefined &&
        typeof v !== "boolean"
      ? REDACTED
      : scrub(v, depth + 1, k);
  }
  return out;
}
