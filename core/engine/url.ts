/** Engine URLs as they may appear in logs and messages: without password or secret parameters. @module */

/** Query parameters of an engine URL that carry secrets. */
const SECRET_PARAMS = ["password", "pass", "sslpassword", "token"];

/**
 * The URL without its password (and secret query parameters), for messages and logs. A value
 * that does not parse as a URL is reduced to its scheme, since it may hold anything; so is one
 * whose password the parser did not read as one: with no `//` before its authority, or with an
 * `@` after it (a password with an unencoded `/`, `?` or `#` after digits parses as a port, then
 * a path, a query or a fragment, which would be shown; after other characters it makes a port
 * that does not parse, told the same way, so the message says what to encode).
 * @example
 * ```ts
 * redactUrl("postgres://app:s3cret@db:5432/iatp"); // "postgres://app@db:5432/iatp"
 * ```
 */
export function redactUrl(url: string): string {
  const parts = /^[^:]*:\/\/[^/?#]*(.*)$/s.exec(url);
  const atAfterHost = (scheme: string) =>
    `${scheme}//(URL not shown: an @ after its host; percent-encode / ? # @ in a password)`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0];
    // A password with an unencoded / ? or # after letters makes a port that does not parse.
    if (scheme && parts?.[1].includes("@")) return atAfterHost(scheme);
    return scheme ? `${scheme}//(unparsable URL)` : "(unparsable URL)";
  }
  const scheme = u.protocol;
  if (!parts) return `${scheme}//(URL not shown: no // before its host)`;
  if (parts[1].includes("@")) return atAfterHost(scheme);
  u.password = "";
  for (const p of SECRET_PARAMS) if (u.searchParams.has(p)) u.searchParams.set(p, "redacted");
  return u.toString();
}

/**
 * A percent-encoded part of a URL decoded, or undefined when it is not well encoded (a `%` not
 * followed by two hex digits, or bytes that are not UTF-8): `decodeURIComponent` would throw a
 * URIError that names no setting.
 * @example
 * ```ts
 * decodeUrlPart("p%40ss"); // "p@ss"
 * decodeUrlPart("50%off"); // undefined
 * ```
 */
export function decodeUrlPart(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
