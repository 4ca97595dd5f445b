/**
 * The agent's directory layout under `agent.base_folder` (the Stavily layout, docs/protocols.md),
 * created on first run with private modes so other local users cannot read state, tokens or audit
 * lines.
 * @module
 */
import { joinPath, resolvePath } from "../config/mod.ts";

/** Mode of every layout directory: owner only. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of files the agent writes (state, audit, installed plugins' files). */
export const PRIVATE_FILE_MODE = 0o600;

/** Absolute paths of the layout. */
export interface AgentLayout {
  base: string;
  configPlugins: string;
  certificates: string;
  dataPlugins: string;
  cache: string;
  state: string;
  logsPlugins: string;
  audit: string;
  workdir: string;
}

/** The folders, relative to the base, in creation order. */
export const LAYOUT_DIRS: ReadonlyArray<[keyof Omit<AgentLayout, "base">, string]> = [
  ["configPlugins", "config/plugins"],
  ["certificates", "config/certificates"],
  ["dataPlugins", "data/plugins"],
  ["cache", "data/cache"],
  ["state", "data/state"],
  ["logsPlugins", "logs/plugins"],
  ["audit", "logs/audit"],
  ["workdir", "tmp/workdir"],
];

/** The default base folder of an agent kind: `$IATP_DATA_DIR/<kind>`, else `data/<kind>`. */
export function defaultBaseFolder(kind: string, dataDir: string | undefined): string {
  return joinPath(dataDir && dataDir !== "" ? dataDir : "data", kind);
}

/** Paths of the layout under `base` (nothing is created). */
function layoutPaths(base: string): AgentLayout {
  const abs = resolvePath(base);
  const out = { base: abs } as AgentLayout;
  for (const [key, rel] of LAYOUT_DIRS) out[key] = joinPath(abs, rel);
  return out;
}

/**
 * Creates the layout (idempotent) and tightens modes of folders that already exist, including the
 * intermediate config/, data/, logs/ and tmp/ folders.
 */
export async function ensureLayout(base: string): Promise<AgentLayout> {
  const layout = layoutPaths(base);
  await Deno.mkdir(layout.base, { recursive: true, mode: PRIVATE_DIR_MODE });
  await Deno.chmod(layout.base, PRIVATE_DIR_MODE);
  for (const [, rel] of LAYOUT_DIRS) {
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const dir = joinPath(layout.base, ...parts.slice(0, i));
      await Deno.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      await Deno.chmod(dir, PRIVATE_DIR_MODE);
    }
  }
  return layout;
}
