/**
 * Opening the replay store: its file (and node:sqlite) is imported only by a service that keeps
 * one, not by every service that loads core/auth.
 * @module
 */
import type { ReplayStore, ReplayStoreOptions } from "./replay.ts";

/**
 * Opens (creating it when missing) the replay store at `opts.path`.
 * @throws {Error} when the SQLite file cannot be opened or written (node:sqlite's error)
 * @example
 * ```ts
 * const replay = await openReplayStore({ path: ":memory:" });
 * replay.remember("agent-1", "req-1"); // "fresh"
 * replay.close();
 * ```
 */
export async function openReplayStore(opts: ReplayStoreOptions): Promise<ReplayStore> {
  const { ReplayStore } = await import("./replay.ts");
  return new ReplayStore(opts);
}
