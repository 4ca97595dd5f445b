/** Builds a small ledger file and tampers with its SQLite rows the way an attacker would. @module */
import { DatabaseSync } from "node:sqlite";
import { input, tempLedger } from "./ledger_helpers.ts";
import { refLeaf, refRoot } from "./rfc6962_reference.ts";

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

/**
 * Modifies entry `index` and rewrites everything stored without a key to match it: its leaf
 * hash, every tree node above it and the root stored beside each later checkpoint. Only the
 * signed notes are left as they were (forging them needs the key).
 */
export function rewriteTree(db: DatabaseSync, index: number): void {
  const enc = new TextEncoder();
  const rows = db.prepare("SELECT idx, body FROM entries ORDER BY idx").all() as Array<
    { idx: number; body: string }
  >;
  const leaves: Uint8Array[] = [];
  for (const r of rows) {
    let body = r.body;
    if (r.idx === index) {
      body = body.replace(`"i":${index}`, `"i":${index + 1000}`);
      db.prepare("UPDATE entries SET body = ?, leaf_hash = ? WHERE idx = ?")
        .run(body, refLeaf(enc.encode(body)), r.idx);
    }
    leaves.push(refLeaf(enc.encode(body)));
  }
  const nodes = db.prepare("SELECT level, idx FROM nodes").all() as Array<
    { level: number; idx: number }
  >;
  for (const n of nodes) {
    const width = 2 ** n.level;
    const hash = refRoot(leaves.slice(n.idx * width, (n.idx + 1) * width));
    db.prepare("UPDATE nodes SET hash = ? WHERE level = ? AND idx = ?").run(hash, n.level, n.idx);
  }
  const sizes = db.prepare("SELECT tree_size FROM checkpoints").all() as Array<
    { tree_size: number }
  >;
  for (const { tree_size } of sizes) {
    db.prepare("UPDATE checkpoints SET root_hash = ? WHERE tree_size = ?")
      .run(refRoot(leaves.slice(0, tree_size)), tree_size);
  }
}
