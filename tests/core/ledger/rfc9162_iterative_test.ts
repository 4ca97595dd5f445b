/**
 * A second independent check of the ledger's trees, receipts, proofs and checkpoints: the
 * verification algorithms exactly as RFC 9162 sections 2.1.3.2 and 2.1.4.2 give them (bit
 * walking, not the recursion rfc6962_reference.ts mirrors), tree heads built level by level, and
 * the C2SP signed note checked byte for byte. Nothing here is imported from core/ledger's proof
 * code: only the ledger under test itself.
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { tempLedger } from "./ledger_helpers.ts";

const enc = new TextEncoder();

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}
const leafHash = (data: Uint8Array) => sha256(Uint8Array.of(0), data);
const nodeHash = (l: Uint8Array, r: Uint8Array) => sha256(Uint8Array.of(1), l, r);
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (h: string) => new Uint8Array((h.match(/../g) ?? []).map((x) => parseInt(x, 16)));
const same = (a: Uint8Array, b: Uint8Array) => hex(a) === hex(b);
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** MTH built bottom-up: pair neighbours on each level, an unpaired last node moves up as is. */
function treeHead(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256();
  let level = leaves;
  while (level.length > 1) {
    const up: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) up.push(nodeHash(level[i], level[i + 1]));
    if (level.length % 2 === 1) up.push(level[level.length - 1]);
    level = up;
  }
  return level[0];
}

/** RFC 9162 2.1.3.2, step by step. */
function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  path: Uint8Array[],
  root: Uint8Array,
): boolean {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && same(r, root);
}

/** RFC 9162 2.1.4.2, step by step. */
function verifyConsistency(
  first: number,
  second: number,
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
  proof: Uint8Array[],
): boolean {
  if (first === second) return proof.length === 0 && same(firstRoot, secondRoot);
  if (first === 0 || first > second) return false;
  if (proof.length === 0) return false;
  let path = proof;
  if ((first & (first - 1)) === 0) path = [firstRoot, ...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && same(fr, firstRoot) && same(sr, secondRoot);
}

/**
 * The exact bytes of a c2sp.org/tlog-checkpoint note for this origin, size and root, checked
 * with the vkey; throws (an assertion) at the first thing that does not hold.
 */
async function checkNote(
  note: string,
  vkey: string,
  want: { origin: string; size: number; root: Uint8Array },
): Promise<void> {
  // name+id+key: only the first two '+' separate (base64 may hold '+').
  const a = vkey.indexOf("+");
  const b = vkey.indexOf("+", a + 1);
  const [name, idHex, keyB64] = [vkey.slice(0, a), vkey.slice(a + 1, b), vkey.slice(b + 1)];
  assert.equal(name, want.origin, "the vkey's name is the origin");
  const raw = unb64(keyB64);
  assert.equal(raw.length, 33);
  assert.equal(raw[0], 0x01, "Ed25519 algorithm byte");
  const pub = raw.slice(1);
  const id = sha256(enc.encode(name), Uint8Array.of(0x0a, 0x01), pub).slice(0, 4);
  assert.equal(hex(id), idHex, "key id = SHA-256(name || 0x0A || 0x01 || key)[:4]");
  const body = `${want.origin}\n${want.size}\n${b64(want.root)}\n`;
  assert.ok(note.startsWith(body + "\n\u2014 "), `note body is exactly ${JSON.stringify(body)}`);
  const line = note.slice(body.length + 1);
  const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})\n$/.exec(line);
  assert.ok(m, `one signature line: ${JSON.stringify(line)}`);
  assert.equal(m[1], name);
  const blob = unb64(m[2]);
  assert.equal(blob.length, 4 + 64);
  assert.equal(hex(blob.slice(0, 4)), idHex);
  const key = await crypto.subtle.importKey("raw", pub, "Ed25519", false, ["verify"]);
  assert.ok(
    await crypto.subtle.verify("Ed25519", key, blob.slice(4), enc.encode(body)),
    "Ed25519 signature over the body",
  );
}

const MAX_SIZE = 300;

Deno.test("at every size 1..300 the receipt, tree head and signed note, and inclusion and consistency proofs (all pairs to 64, around powers of two, 3000 random), verify by RFC 9162's own algorithms", async () => {
  const t = await tempLedger();
  try {
    const leaves: Uint8Array[] = [];
    const { origin, vkey } = t.ledger;
    for (let n = 1; n <= MAX_SIZE; n++) {
      // One append per commit: a checkpoint, and a receipt, at every size.
      const res = await t.ledger.append({
        tx_id: `tx-${n}`,
        event: "probe",
        actor: "a\u00e9\u{1F600}",
        payload: { n, s: 'x"\\\n\u2028', deep: { z: 1, a: [true, null, 1.5] } },
      });
      const e = t.ledger.entry(n - 1)!;
      const bytes = enc.encode(
        JSON.stringify({
          actor: e.actor,
          event: e.event,
          index: e.index,
          payload: { deep: { a: [true, null, 1.5], z: 1 }, n, s: 'x"\\\n\u2028' },
          ts: e.ts,
          tx_id: e.tx_id,
        }),
      );
      leaves.push(leafHash(bytes));
      assert.equal(res.index, n - 1);
      assert.equal(res.leaf_hash, hex(leaves[n - 1]), `leaf hash of entry ${n - 1}`);
      const head = treeHead(leaves);
      const r = res.receipt;
      assert.equal(r.tree_size, n);
      assert.equal(r.root_hash, hex(head), `tree head at ${n}`);
      assert.ok(
        verifyInclusion(n - 1, n, leaves[n - 1], r.inclusion_proof.map(unhex), head),
        `receipt of ${n - 1} in ${n}`,
      );
      await checkNote(r.checkpoint, vkey, { origin, size: n, root: head });
      assert.deepEqual(e.receipt, r, `GET /entries/${n - 1} serves the append's receipt`);
    }
    const heads = [sha256()];
    for (let n = 1; n <= MAX_SIZE; n++) heads.push(treeHead(leaves.slice(0, n)));
    const checkInclusion = (i: number, n: number) => {
      const p = t.ledger.inclusion(i, n);
      assert.equal(p.root_hash, hex(heads[n]));
      assert.equal(p.leaf_hash, hex(leaves[i]));
      const path = p.inclusion_proof.map(unhex);
      assert.ok(verifyInclusion(i, n, leaves[i], path, heads[n]), `inclusion ${i} in ${n}`);
      // The same path proves no other leaf, index or size.
      if (n > 1) {
        assert.ok(!verifyInclusion((i + 1) % n, n, leaves[i], path, heads[n]));
        assert.ok(!verifyInclusion(i, n, leaves[(i + 1) % n], path, heads[n]));
        assert.ok(!verifyInclusion(i, n - 1, leaves[i], path, heads[n - 1]) || i === n - 1);
      }
    };
    const checkConsistency = (m: number, n: number) => {
      const c = t.ledger.consistency(m, n);
      assert.equal(c.first_root, hex(heads[m]));
      assert.equal(c.second_root, hex(heads[n]));
      const proof = c.consistency_proof.map(unhex);
      assert.ok(verifyConsistency(m, n, heads[m], heads[n], proof), `consistency ${m}..${n}`);
      if (m < n) {
        assert.ok(!verifyConsistency(m, n, heads[m - 1], heads[n], proof), `forged ${m}..${n}`);
      }
    };
    // Every pair up to 64 and around each power of two; random pairs up to 300 (seeded).
    const sizes = [...Array(64).keys()].map((k) => k + 1);
    for (const p of [127, 128, 129, 255, 256, 257, 299, 300]) sizes.push(p);
    for (const n of sizes) {
      for (let i = 0; i < n; i++) checkInclusion(i, n);
      for (let m = 1; m <= n; m++) checkConsistency(m, n);
    }
    let seed = 6962;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % below;
    };
    for (let k = 0; k < 3000; k++) {
      const n = 1 + random(MAX_SIZE);
      checkInclusion(random(n), n);
      checkConsistency(1 + random(n), n);
    }
    // Old size 0 is no proof the ledger serves (RFC 9162 needs none); past the tree is refused.
    assert.throws(() => t.ledger.consistency(0, 5), /first must be from 1/);
    assert.throws(() => t.ledger.consistency(1, MAX_SIZE + 1), /second must be from 1/);
    assert.throws(() => t.ledger.inclusion(0, MAX_SIZE + 1), /tree_size must be from 1/);
    assert.throws(() => t.ledger.inclusion(MAX_SIZE, MAX_SIZE), /index must be from 0/);
    // A receipt checked against another log's key fails.
    const other = await crypto.subtle.generateKey("Ed25519", true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const pub = new Uint8Array(await crypto.subtle.exportKey("raw", other.publicKey));
    const id = sha256(enc.encode(origin), Uint8Array.of(0x0a, 0x01), pub).slice(0, 4);
    const foreign = `${origin}+${hex(id)}+${b64(Uint8Array.of(1, ...pub))}`;
    const last = t.ledger.entry(MAX_SIZE - 1)!.receipt.checkpoint;
    await assert.rejects(checkNote(last, foreign, { origin, size: MAX_SIZE, root: heads[300] }));
  } finally {
    await t.done();
  }
});
