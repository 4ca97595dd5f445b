/**
 * The query of a request-target read as the router reads it (Hono's `c.req.queries()`), for
 * routes served on the raw path: the same names, values and decoding for the same bytes.
 * @module
 */

/** Decodes percent-escapes; a malformed run keeps its escapes and the valid ones around it decode. */
function decodeComponent(s: string): string {
  if (s.indexOf("%") < 0) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/** One name or value: `+` is a space, then percent-escapes decode. */
function decodePart(s: string): string {
  return decodeComponent(s.indexOf("+") < 0 ? s : s.replace(/\+/g, " "));
}

/**
 * Every query parameter of a request-target (or URL) by name, values in order: `a=1&a=2&b`
 * gives `a: ["1", "2"], b: [""]`; empty names are skipped, a `#fragment` is not part of it.
 * @example
 * ```ts
 * queryOf("/subscribe?topic=a&topic=b.*&since=x").get("topic"); // ["a", "b.*"]
 * ```
 */
export function queryOf(target: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const q = target.indexOf("?");
  if (q < 0) return out;
  const hash = target.indexOf("#", q);
  const query = target.slice(q + 1, hash < 0 ? undefined : hash);
  const encoded = /[%+]/.test(query);
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    let name = eq < 0 ? pair : pair.slice(0, eq);
    if (encoded) name = decodePart(name);
    if (name === "") continue;
    let value = eq < 0 ? "" : pair.slice(eq + 1);
    if (encoded) value = decodePart(value);
    const values = out.get(name);
    if (values) values.push(value);
    else out.set(name, [value]);
  }
  return out;
}
