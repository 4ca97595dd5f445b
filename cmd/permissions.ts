/**
 * The permission table (cmd/permissions.txt) as data, for compiled mode and for tests; the
 * launcher reads the same file.
 * @module
 */
import tableText from "./permissions.txt" with { type: "text" };

/** One subcommand's Deno permission flags, placeholders unexpanded. */
export type PermissionTable = Map<string, string[]>;

/** Parses the table text: `name flag flag ...` per line, `#` comments. */
export function parsePermissionTable(text: string): PermissionTable {
  const table: PermissionTable = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [name, ...flags] = line.split(/\s+/);
    table.set(name, flags);
  }
  return table;
}

/** The table shipped with this build. */
export const PERMISSIONS: PermissionTable = parsePermissionTable(tableText);

/** The values granted by `--allow-<name>=a,b` flags (all of them for a bare `--allow-<name>`). */
export function grantsOf(flags: string[], name: string): string[] | "all" | "none" {
  let out: string[] | "all" | "none" = "none";
  for (const flag of flags) {
    if (flag === `--allow-${name}`) return "all";
    if (flag.startsWith(`--allow-${name}=`)) {
      const values = flag.slice(`--allow-${name}=`.length).split(",").filter(Boolean);
      out = out === "none" ? values : [...out, ...values];
    }
  }
  return out;
}

/** Whether an env var name is granted by an `--allow-env` list (supports `PREFIX_*`). */
export function envGranted(flags: string[], variable: string): boolean {
  const grants = grantsOf(flags, "env");
  if (grants === "all") return true;
  if (grants === "none") return false;
  return grants.some((g) => g.endsWith("*") ? variable.startsWith(g.slice(0, -1)) : g === variable);
}

/** Permission categories a subcommand line can grant. */
const CATEGORIES = ["net", "env", "read", "write", "run", "sys", "ffi", "import"] as const;

/**
 * In a compiled binary every subcommand starts with the union of permissions baked in at
 * compile time; this revokes each category the subcommand's table line does not grant.
 * (Deno cannot narrow a granted category to a list at run time, so partial grants stay whole;
 * under `deno run` the launcher applies the exact flags instead.) Returns what was revoked.
 */
export function narrowToSubcommand(name: string, table: PermissionTable = PERMISSIONS): string[] {
  const flags = table.get(name);
  // Unknown commands and the plugin host (which narrows itself per plugin manifest) are left as is.
  if (!flags || name === "plugin-host") return [];
  const revoked: string[] = [];
  for (const cat of CATEGORIES) {
    if (cat === "import") continue;
    if (grantsOf(flags, cat) === "none") {
      Deno.permissions.revokeSync({ name: cat } as Deno.PermissionDescriptor);
      revoked.push(cat);
    }
  }
  return revoked;
}
