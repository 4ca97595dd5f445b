/** Builds a small ledger file and tampers with its SQLite rows the way an attacker would. @module */
import { DatabaseSync } from "node:sqlite";
import { input, tempLedger } from "./ledger_helpers.ts";
import { refLeaf } from "./rfc6962_reference.ts";

/** Entries in the fixture ledger. */
export const FIXTURE_SIZE = 40;

/** Creates a closed ledger of {@linkcode FIXTURE_SIZE} entries in uneven batches. */
export async function fixtureLedger() {
  const t = await tempLedger();
  let i = 0;
  for (const batch of [1, 3, 7, 2, 11, 16]) {
    await Promise.all(Array.from({ length: batch }, () => t.ledger.append(input(i++))));
  }
  await t.ledger.close();
  return t;
}

/** The tamper cases: name, SQL change, and the first bad index it must be caught at. */
export const TAMPERS: Array<{ name: string; apply(db: DatabaseSync): void; badIndex: number }> = [
  {
    name: "modify a payload",
    apply: (db) =>
      db.exec(`UPDATE entries SET body = replace(body, '"i":17', '"i":99') WHERE idx = 17`),
    badIndex: 17,
  },
  {
    name: "delete a row",
    apply: (db) => db.exec("DELETE FROM entries WHERE idx = 23"),
    badIndex: 23,
  },
  {
    name: "reorder two rows",
    apply: (db) => {
      db.exec("UPDATE entries SET idx = -1 WHERE idx = 5");
      db.exec("UPDATE entries SET idx = 5 WHERE idx = 6");
      db.exec("UPDATE entries SET idx = 6 WHERE idx = -1");
    },
    badIndex: 5,
  },
  {
    name: "delete the last row",
    apply: (db) => db.exec(`DELETE FROM entries WHERE idx = ${FIXTURE_SIZE - 1}`),
    badIndex: FIXTURE_SIZE - 1,
  },
  {
    name: "modify an entry and recompute its leaf hash",
    apply: (db) => {
      const row = db.prepare("SELECT body FROM entries WHERE idx = 30").get() as { body: string };
      const body = row.body.replace('"i":30', '"i":31');
      db.prepare("UPDATE entries SET body = ?, leaf_hash = ? WHERE idx = 30")
        .run(body, refLeaf(new TextEncoder().encode(body)));
    },
    badIndex: 30,
  },
];

/** Applies one tamper to the file at `path`. */
export function tamper(path: string, apply: (db: DatabaseSync) => void): void {
  const db = new DatabaseSync(path);
  try {
    apply(db);
  } finally {
    db.close();
  }
}
