/** Engine URLs as they may appear in logs and messages: without password or secret parameters. @module */

/** Query parameters of an engine URL that carry secrets. */
const SECRET_PARAMS = ["password", "pass", "sslpassword", "token"];

/**
 * The URL without its password (and secret query parameters), for messages and logs. A value
 * that does not parse as a URL is reduced to its scheme, since it may hold anything.
 * @example
 * ```ts
 * redactUrl("postgres://app:s3cret@db:5432/iatp"); // "postgres://app@db:5432/iatp"
 * ```
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0];
    return scheme ? `${scheme}//(unparsable URL)` : "(unparsable URL)";
  }
  u.password = "";
  for (const p of SECRET_PARAMS) if (u.searchParams.has(p)) u.searchParams.set(p, "redacted");
  return u.toString();
}
