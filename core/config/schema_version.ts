/**
 * Schema versions of the SQLite store files (the audit ledger, the relay's `sqlite:` history,
 * the policy's decision state, an agent's state, the flight recorder, the replay store): each
 * file carries its store's schema version in SQLite's `user_version`. A release brings an older
 * file forward (its migrations, then the new version stamped) and refuses a newer one before
 * writing anything to it, so a rollback onto a file a newer release changed is a clear refusal
 * naming the file, never a silent misreading. Files written before the stamp read as version 0,
 * the schema of version 1 or an older one the store's migrations bring forward.
 * @module
 */
import { NewerSchemaError } from "../errors/mod.ts";

/** The part of node:sqlite's DatabaseSync this needs. */
interface Db {
  exec(sql: string): void;
  prepare(sql: string): { get(): unknown };
  close(): void;
}

/**
 * The file's schema version; when it is past `known`, closes `db` before anything is written
 * to it and throws.
 * @example
 * ```ts
 * refuseNewerSchema(db, "data/audit.db", LEDGER_SCHEMA_VERSION);
 * ```
 * @throws {NewerSchemaError} when a newer release wrote the file
 */
export function refuseNewerSchema(db: Db, path: string, known: number): number {
  const row = db.prepare("PRAGMA user_version").get() as { user_version?: number } | undefined;
  const found = Number(row?.user_version ?? 0);
  if (found > known) {
    db.close();
    throw new NewerSchemaError(path, found, known);
  }
  return found;
}

/**
 * Stamps `version` on the file once its tables are of that version (after the migrations).
 * @example
 * ```ts
 * stampSchema(db, LEDGER_SCHEMA_VERSION);
 * ```
 */
export function stampSchema(db: Db, version: number): void {
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError("schema version");
  const row = db.prepare("PRAGMA user_version").get() as { user_version?: number } | undefined;
  if (Number(row?.user_version ?? 0) !== version) db.exec(`PRAGMA user_version = ${version}`);
}
