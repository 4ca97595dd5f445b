/**
 * A relay client's bearer token kept out of what it reports: a refusal's body (a proxy's error
 * page, an upstream's echo of the request) or a header it quotes may carry the token back, as
 * written, percent-encoded or JSON-escaped, and cut short where the client cuts the text it shows.
 * @module
 */

/** The shortest start of a token a cut text may end with that is said as `[token]`. */
const MIN_PART = 4;

/** Every UTF-8 byte of `s` as `%XX`. */
function percentAll(s: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(s)) out += `%${b.toString(16).padStart(2, "0")}`;
  return out;
}

/** The shapes a token is echoed in, lower-cased (percent escapes' hex may be either case). */
function shapes(token: string): string[] {
  const all = [
    token,
    encodeURIComponent(token),
    encodeURI(token),
    JSON.stringify(token).slice(1, -1),
    percentAll(token),
  ].map((s) => s.toLowerCase());
  return [...new Set(all)].sort((a, b) => b.length - a.length);
}

/**
 * `text` with every occurrence of `token` (as written, percent-encoded or JSON-escaped; any
 * case) replaced by `[token]`, and a start of it (at least 4 characters) that ends `text` too:
 * the text was cut in the middle of the token.
 * @example
 * ```ts
 * redactToken("refused s3cret and s3cr", "s3cret"); // "refused [token] and [token]"
 * ```
 */
export function redactToken(text: string, token: string | undefined): string {
  if (!token || text.length === 0) return text;
  const forms = shapes(token);
  let lower = text.toLowerCase();
  let out = text;
  for (const form of forms) {
    let at = lower.indexOf(form);
    if (at < 0) continue;
    let next = "";
    let from = 0;
    while (at >= 0) {
      next += `${out.slice(from, at)}[token]`;
      from = at + form.length;
      at = lower.indexOf(form, from);
    }
    out = next + out.slice(from);
    lower = out.toLowerCase();
  }
  for (const form of forms) {
    for (let k = Math.min(form.length - 1, lower.length); k >= MIN_PART; k--) {
      if (lower.endsWith(form.slice(0, k))) return `${out.slice(0, out.length - k)}[token]`;
    }
  }
  return out;
}
