/** Path containment: the one check that a path stays inside a folder (plugin sandboxes). @module */
import { resolve, sep } from "node:path";

/**
 * Whether `path` is `root` or lies below it, comparing the two lexically after resolving each
 * against the working directory (`..` and `.` segments folded). Symlinks are not followed:
 * pass `Deno.realPath` results where a link could lead out.
 *
 * @example
 * ```ts
 * isInside("/srv/plugins/a", "/srv/plugins/a/mod.ts"); // true
 * isInside("/srv/plugins/a", "/srv/plugins/a/../b/mod.ts"); // false
 * isInside("/srv/plugins/a", "/srv/plugins/ab"); // false
 * ```
 */
export function isInside(root: string, path: string): boolean {
  const base = resolve(root);
  const p = resolve(path);
  return p === base || p.startsWith(base.endsWith(sep) ? base : base + sep);
}
