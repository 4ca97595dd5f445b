/**
 * The permission table (cmd/permissions.txt) as data: the exact flags of each subcommand for the
 * image launcher (scripts/launcher.ts), the category narrowing of the compiled binary, and tests.
 * scripts/iatp reads the same file.
 * @module
 */
import type { PathGrant } from "../core/config/mod.ts";
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

/** An environment word of a table line: `NAME=VALUE` (every other word is a Deno flag). */
const ENV_WORD = /^([A-Z][A-Z0-9_]*)=(\S*)$/;

/**
 * The environment a line sets for its subcommand's process: its `NAME=VALUE` words.
 * @example
 * ```ts
 * lineEnv(["MALLOC_MMAP_THRESHOLD_=32768", "--allow-net"]); // { MALLOC_MMAP_THRESHOLD_: "32768" }
 * ```
 */
export function lineEnv(line: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of line) {
    const m = ENV_WORD.exec(word);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** The Deno flags of a line: every word but its `NAME=VALUE` ones. */
export function lineFlags(line: readonly string[]): string[] {
  return line.filter((w) => !ENV_WORD.test(w));
}

/**
 * What a launcher adds to the environment of a subcommand's process: the line's `NAME=VALUE`
 * words whose variable the operator's environment `env` does not already set.
 */
export function launchEnv(
  name: string,
  env: Record<string, string>,
  table: PermissionTable = PERMISSIONS,
): Record<string, string> {
  const set = Object.entries(lineEnv(table.get(name) ?? [])).filter(([k]) => !(k in env));
  return Object.fromEntries(set);
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
 * compile time; this revokes each category the subcommand's table line does not grant, and
 * returns what was revoked. A category the line grants in part stays whole: on Deno 2.9,
 * revoking a path or command under a global grant is a no-op (tests/cmd/permissions_test.ts).
 * Under `deno run` (scripts/iatp, the image's scripts/launcher.ts) the exact flags apply instead.
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

/** Where the table's placeholders point: `$ROOT` the app, `$DATA` the data dir, `$DENO` Deno. */
export interface Layout {
  root: string;
  data: string;
  deno: string;
}

/**
 * A line's flags with `$ROOT`, `$DATA` and `$DENO` filled in.
 * @example
 * ```ts
 * expandFlags(["--allow-read=$DATA"], { root: "/app", data: "/data", deno: "/bin/deno" });
 * // ["--allow-read=/data"]
 * ```
 */
export function expandFlags(flags: string[], layout: Layout): string[] {
  return flags.map((f) =>
    f.replaceAll("$ROOT", layout.root).replaceAll("$DATA", layout.data).replaceAll(
      "$DENO",
      layout.deno,
    )
  );
}

/**
 * Adds values to `--allow-<name>=a,b` (or adds the flag); a bare `--allow-<name>` already
 * covers them. Deno separates list values with commas, so a value holding one is refused.
 * @throws {RangeError} when a value contains a comma.
 * @example
 * ```ts
 * extendFlag(["--allow-read=/data"], "read", ["/run/iatp/issuer.pub"]);
 * // ["--allow-read=/data,/run/iatp/issuer.pub"]
 * ```
 */
export function extendFlag(flags: string[], name: string, values: string[]): string[] {
  const add = values.filter((v) => v !== "");
  const bad = add.find((v) => v.includes(","));
  if (bad !== undefined) throw new RangeError(`a path granted to Deno cannot hold a comma: ${bad}`);
  if (add.length === 0 || flags.includes(`--allow-${name}`)) return [...flags];
  const prefix = `--allow-${name}=`;
  const at = flags.findIndex((f) => f.startsWith(prefix));
  if (at < 0) return [...flags, prefix + add.join(",")];
  const have = flags[at].slice(prefix.length).split(",");
  const merged = [...have, ...add.filter((v) => !have.includes(v))];
  return flags.map((f, i) => i === at ? prefix + merged.join(",") : f);
}

/** Paths named by `file:PATH` values (credential settings) in an argv or a value list. */
function filePaths(values: Iterable<string>): string[] {
  const out: string[] = [];
  for (const value of values) {
    const v = value.startsWith("--") && value.includes("=")
      ? value.slice(value.indexOf("=") + 1)
      : value;
    for (const item of v.split(",")) {
      const t = item.trim();
      if (t.startsWith("file:") && t.length > 5) out.push(t.slice(5));
    }
  }
  return out;
}

/** Paths given to `--config` in an argv. */
function configPaths(args: string[]): string[] {
  const out: string[] = [];
  // `iatp config check <command> FILE`: the file is a positional argument.
  if (args[0] === "check" && args.length === 3) out.push(args[2]);
  args.forEach((a, i) => {
    if (a === "--config" && i + 1 < args.length) out.push(args[i + 1]);
    else if (a.startsWith("--config=")) out.push(a.slice("--config=".length));
  });
  return out;
}

/** What {@linkcode launchFlags} needs to know about one start. */
export interface LaunchRequest {
  /** The subcommand (argv[0]). */
  name: string;
  /** The subcommand's own arguments. */
  args: string[];
  /** The environment the subcommand will see. */
  env: Record<string, string>;
  layout: Layout;
  table?: PermissionTable;
  /** The paths `iatp __grants` found in the argv and environment (write includes read). */
  grants?: readonly PathGrant[];
}

/**
 * The exact Deno flags of one subcommand start: its table line's flags (not its `NAME=VALUE`
 * words, {@linkcode launchEnv}) with placeholders filled, plus read access to the files the
 * operator named for it (the `--config` file and `file:PATH` credential settings, in its
 * arguments or in env vars it may read) and the operator's explicit `IATP_ALLOW_READ` /
 * `IATP_ALLOW_WRITE` lists. An unknown subcommand gets no permission at all.
 * @throws {RangeError} when a named path contains a comma.
 */
export function launchFlags(req: LaunchRequest): string[] {
  const line = (req.table ?? PERMISSIONS).get(req.name);
  if (!line) return [];
  let flags = expandFlags(lineFlags(line), req.layout);
  const visible = Object.entries(req.env).filter(([k]) => envGranted(line, k)).map(([, v]) => v);
  const list = (v: string | undefined) => (v ?? "").split(",").map((s) => s.trim());
  flags = extendFlag(flags, "read", [
    ...list(req.env.IATP_ALLOW_READ),
    ...configPaths(req.args),
    ...filePaths(req.args),
    ...filePaths(visible),
    ...(req.grants ?? []).map((g) => g.path),
  ]);
  return extendFlag(flags, "write", [
    ...list(req.env.IATP_ALLOW_WRITE),
    ...(req.grants ?? []).filter((g) => g.access === "write").map((g) => g.path),
  ]);
}

/**
 * The subcommands that are started from their own file in `deno run` mode, with that file's
 * path in the checkout. scripts/iatp lists the same names (tests/cmd/run_test.ts holds them
 * equal), and every file here ends by calling `runAsEntry` (cmd/run.ts) when it is the entry.
 */
export const SERVICE_ENTRIES: ReadonlyMap<string, string> = new Map([
  ["sidecar", "cmd/sidecar.ts"],
  ["relay", "cmd/relay.ts"],
  ["policy", "cmd/policy.ts"],
  ["audit", "cmd/audit.ts"],
  ["dashboard", "cmd/dashboard.ts"],
  ["sensor", "cmd/sensor.ts"],
  ["action", "cmd/action.ts"],
  ["compose-agent", "cmd/compose_agent.ts"],
  ["status", "cmd/status.ts"],
]);

/**
 * The file a launcher runs for `argv` in `deno run` mode, and the arguments it passes to it: a
 * service's own file without the subcommand's name, else main.ts with the whole argv.
 */
export function entryOf(argv: readonly string[]): { file: string; args: string[] } {
  const file = argv[0] === undefined ? undefined : SERVICE_ENTRIES.get(argv[0]);
  return file ? { file, args: argv.slice(1) } : { file: "main.ts", args: [...argv] };
}
