/**
 * The usage text of a config: one row a flag (its env var and default, written as the flag
 * accepts it back), then the file-only keys. Columns are always at least two spaces apart: a
 * flag too wide for the first column puts its help on the next line.
 * @module
 */
import type { Leaf } from "./leaves.ts";

/** The widest first column; a wider flag moves its help to a line of its own. */
export const USAGE_FLAG_COLUMN = 34;
/** Spaces between the columns. */
const GAP = 2;

/** What the usage text says of a config besides its fields. */
export interface UsageHead {
  command: string;
  summary: string;
  /** More forms of the command line, each after `iatp <command> ` (the usage prints that too). */
  usageLines?: string[];
}

/**
 * The usage text of a config with `leaves`, read from `configEnv` as well as `--config`.
 * @example
 * ```ts
 * usageText({ command: "relay", summary: "SSE pub/sub" }, leaves, "IATP_RELAY_CONFIG");
 * ```
 */
export function usageText(head: UsageHead, all: Leaf[], configEnv: string): string {
  const rows: Array<[string, string, string]> = [];
  rows.push(["--config PATH", "YAML config file", `env ${configEnv}`]);
  for (const leaf of all) {
    if (!leaf.flag) continue;
    const f = leaf.field;
    const left = f.boolean ? `--[no-]${leaf.flag}` : `--${leaf.flag} ${f.metavar}`;
    const def = f.secret ? "(secret)" : f.default === undefined ? "unset" : f.show(f.default);
    rows.push([left, f.help, `${envColumn(leaf)}default ${def}`]);
  }
  for (const leaf of all) {
    if (leaf.flag) continue;
    rows.push([`(file) ${leaf.key}`, leaf.field.help, envColumn(leaf).trimEnd()]);
  }
  rows.push(["-h, --help", "show this help", ""]);
  const width = Math.min(USAGE_FLAG_COLUMN, Math.max(...rows.map((r) => r[0].length)));
  return [
    `Usage: iatp ${head.command} [flags]`,
    ...(head.usageLines ?? []).map((l) => `       iatp ${head.command} ${l}`),
    "",
    head.summary,
    "",
    "Flags (precedence: flag > env > config file > default):",
    ...rows.map(([left, help, extra]) => row(left, help, extra, width)),
  ].join("\n");
}

/** `env NAME  ` (with the upstream names it also reads), or nothing for a field with no env var. */
function envColumn(leaf: Leaf): string {
  if (!leaf.env) return "";
  const upstream = leaf.aliases.filter((a) => a.kind === "upstream" && a.via === "env");
  const also = upstream.length > 0 ? ` or ${upstream.map((a) => a.name).join(" or ")}` : "";
  return `env ${leaf.env}${also}  `;
}

function row(left: string, help: string, extra: string, width: number): string {
  const tail = extra ? `${" ".repeat(GAP)}[${extra}]` : "";
  const indent = " ".repeat(GAP);
  if (left.length > width) {
    return `${indent}${left}\n${indent}${" ".repeat(width + GAP)}${help}${tail}`;
  }
  return `${indent}${left.padEnd(width + GAP)}${help}${tail}`;
}
