/**
 * C2SP signed notes and checkpoints (c2sp.org/signed-note, c2sp.org/tlog-checkpoint) with
 * Ed25519: the text format transparency-log tooling already verifies.
 *
 * A checkpoint body is `<origin>\n<tree size>\n<base64 root hash>\n`; the note appends a blank
 * line and `— <key name> <base64(4-byte key id || signature)>\n`. The key id is the first four
 * bytes of SHA-256(key name || 0x0A || 0x01 || public key).
 * @module
 */
import type { KeyObject } from "node:crypto";
import { importPublicKey, sign, verify } from "../../crypto/mod.ts";
import { decodeBase64, encodeBase64, encodeHex } from "../../encoding/mod.ts";
import { bytesEqual, EMPTY_ROOT } from "./hash.ts";
import { formatVkey, keyId, type NoteVerifier, parseVkey } from "../vkey/mod.ts";

// The vkey's form and key id live in core/ledger/vkey (what a verifier checks at start); the
// proofs offer them too.
export { formatVkey, keyId, type NoteVerifier, parseVkey };

/** Longest note accepted for parsing (a checkpoint is a few hundred bytes). */
const MAX_NOTE_BYTES = 16 * 1024;
const SIG_PREFIX = "\u2014 ";
const enc = new TextEncoder();

/** A tree head. */
export interface Checkpoint {
  origin: string;
  treeSize: number;
  rootHash: Uint8Array;
}

/** A note signer: key name (normally the origin) and its Ed25519 keys. */
export interface NoteSigner {
  name: string;
  privateKey: CryptoKey;
  publicRaw: Uint8Array;
}

/** The checkpoint body text. */
export function formatCheckpoint(cp: Checkpoint): string {
  return `${cp.origin}\n${cp.treeSize}\n${encodeBase64(cp.rootHash)}\n`;
}

/** Parses a checkpoint body; undefined when malformed. Extension lines are allowed and ignored. */
export function parseCheckpoint(body: string): Checkpoint | undefined {
  const lines = body.split("\n");
  if (lines.length < 4 || lines[lines.length - 1] !== "") return undefined;
  const [origin, size, root] = lines;
  if (origin === "" || !/^(0|[1-9][0-9]{0,15})$/.test(size)) return undefined;
  const treeSize = Number(size);
  if (!Number.isSafeInteger(treeSize)) return undefined;
  try {
    const rootHash = decodeBase64(root);
    if (rootHash.length !== 32 || encodeBase64(rootHash) !== root) return undefined;
    return { origin, treeSize, rootHash };
  } catch {
    return undefined;
  }
}

const nodeKeys = new WeakMap<CryptoKey, KeyObject | null>();

/** node:crypto once the first signature loaded it (it costs a process several MB: not at start). */
let nodeCrypto: typeof import("node:crypto") | undefined;

/** Loads node:crypto for {@linkcode signNow}; once loaded, a call costs nothing. */
export async function loadSignNow(): Promise<void> {
  nodeCrypto ??= await import("node:crypto");
}

/**
 * Ed25519 signature through node:crypto, synchronously: ~4x cheaper than WebCrypto's async
 * sign and, more importantly for group commit, no event-loop turn between building a batch
 * and writing it. Ed25519 is deterministic (RFC 8032), so the bytes are the same either way.
 * Undefined when the key cannot be used there, or before {@linkcode loadSignNow} (the caller
 * falls back to WebCrypto).
 */
export function signNow(key: CryptoKey, data: Uint8Array): Uint8Array | undefined {
  if (!nodeCrypto) return undefined;
  let ko = nodeKeys.get(key);
  if (ko === undefined) {
    try {
      ko = nodeCrypto.KeyObject.from(key);
      if (ko.type !== "private" || ko.asymmetricKeyType !== "ed25519") ko = null;
    } catch {
      ko = null;
    }
    nodeKeys.set(key, ko);
  }
  if (!ko) return undefined;
  try {
    const sig = nodeCrypto.sign(null, data, ko);
    return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
  } catch {
    nodeKeys.set(key, null);
    return undefined;
  }
}

/**
 * Signs a note body (which must end in a newline) and returns the full note text.
 * @throws {RangeError} when the body does not end with a newline
 */
export async function signNote(body: string, signer: NoteSigner): Promise<string> {
  if (!body.endsWith("\n")) throw new RangeError("note body must end with a newline");
  if (!nodeCrypto) await loadSignNow();
  const sig = signNow(signer.privateKey, enc.encode(body)) ??
    await sign(signer.privateKey, body);
  const blob = new Uint8Array(4 + sig.length);
  blob.set(keyId(signer.name, signer.publicRaw));
  blob.set(sig, 4);
  return `${body}\n${SIG_PREFIX}${signer.name} ${encodeBase64(blob)}\n`;
}

/** A parsed note: body text and its signature lines. */
export interface ParsedNote {
  body: string;
  signatures: Array<{ name: string; keyId: Uint8Array; signature: Uint8Array }>;
}

/** Splits a note into body and signatures; undefined when not a well-formed note. */
export function parseNote(text: string): ParsedNote | undefined {
  if (typeof text !== "string" || text.length > MAX_NOTE_BYTES) return undefined;
  const split = text.lastIndexOf("\n\n");
  if (split < 0 || !text.endsWith("\n")) return undefined;
  const body = text.slice(0, split + 1);
  const sigLines = text.slice(split + 2, -1).split("\n");
  const signatures: ParsedNote["signatures"] = [];
  for (const line of sigLines) {
    if (!line.startsWith(SIG_PREFIX)) return undefined;
    const [name, b64, extra] = line.slice(SIG_PREFIX.length).split(" ");
    if (!name || !b64 || extra !== undefined) return undefined;
    try {
      const blob = decodeBase64(b64);
      if (blob.length < 5) return undefined;
      signatures.push({ name, keyId: blob.slice(0, 4), signature: blob.slice(4) });
    } catch {
      return undefined;
    }
  }
  return signatures.length > 0 ? { body, signatures } : undefined;
}

/** True when some signature on the note is a valid one by `verifier`. */
export async function noteSignedBy(note: ParsedNote, verifier: NoteVerifier): Promise<boolean> {
  const id = keyId(verifier.name, verifier.publicRaw);
  const key = await importPublicKey(verifier.publicRaw);
  for (const s of note.signatures) {
    if (s.name !== verifier.name || s.keyId.some((b, i) => b !== id[i])) continue;
    if (await verify(key, s.signature, note.body)) return true;
  }
  return false;
}

/** Verifies a signed checkpoint note: returns the checkpoint or a reason it is not valid. */
export async function openCheckpoint(
  text: string,
  verifier?: NoteVerifier,
): Promise<{ checkpoint: Checkpoint; note: ParsedNote } | { reason: string }> {
  const note = parseNote(text);
  if (!note) return { reason: "checkpoint is not a well-formed signed note" };
  const checkpoint = parseCheckpoint(note.body);
  if (!checkpoint) return { reason: "checkpoint body is malformed" };
  if (verifier && !(await noteSignedBy(note, verifier))) {
    return { reason: `checkpoint is not signed by ${verifier.name}` };
  }
  return { checkpoint, note };
}

/**
 * What is wrong with a stored signed checkpoint against the tree it stands for, read without its
 * signature (no key needed): undefined when the note's origin, tree size and root are these,
 * else why not. The root stored beside a note is unsigned: a receipt takes its root from the note.
 */
export function checkpointMismatch(
  note: string,
  expected: { origin?: string; treeSize: number; rootHash: Uint8Array },
): string | undefined {
  const parsed = parseNote(note);
  const cp = parsed && parseCheckpoint(parsed.body);
  if (!cp) return `checkpoint ${expected.treeSize} is not a well-formed signed checkpoint`;
  if (cp.treeSize !== expected.treeSize) {
    return `checkpoint ${expected.treeSize} is signed for tree size ${cp.treeSize}`;
  }
  if (!bytesEqual(cp.rootHash, expected.rootHash)) {
    return `checkpoint ${expected.treeSize} signs another root than the stored tree's`;
  }
  if (expected.origin !== undefined && cp.origin !== expected.origin) {
    return `checkpoint ${expected.treeSize} names another log (origin ${
      JSON.stringify(cp.origin.slice(0, 100))
    })`;
  }
  return undefined;
}

/** A signed checkpoint as the ledgers hand it out. */
export interface SignedCheckpoint {
  tree_size: number;
  root_hash_hex: string;
  note: string;
}

/** The signed checkpoint of an empty log (size 0, the empty root), as both ledgers serve it. */
export async function signEmptyCheckpoint(signer: NoteSigner): Promise<SignedCheckpoint> {
  const body = formatCheckpoint({ origin: signer.name, treeSize: 0, rootHash: EMPTY_ROOT });
  return { tree_size: 0, root_hash_hex: encodeHex(EMPTY_ROOT), note: await signNote(body, signer) };
}
