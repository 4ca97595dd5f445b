/**
 * The C2SP verifier key (vkey) of a log's checkpoints apart from the proofs: its text form
 * `<name>+<hex key id>+<base64(0x01 || key)>`, its parse, and the 4-byte key id (the first four
 * bytes of SHA-256(key name || 0x0A || 0x01 || public key)). A service that only checks a
 * configured key at start (the dashboard's `audit_public_key`) loads this, not core/ledger/proof.
 *
 * @example
 * ```ts
 * const verifier = parseVkey("iatp-audit/x+1a2b3c4d+AQ..."); // undefined when malformed
 * ```
 * @module
 */
import { sha256Js } from "../../crypto/mod.ts";
import { decodeBase64, encodeBase64, encodeHex } from "../../encoding/mod.ts";

/** Signature algorithm byte for Ed25519 in C2SP vkeys and key ids. */
export const ALG_ED25519 = 0x01;

/** A note verifier: key name and raw Ed25519 public key. */
export interface NoteVerifier {
  name: string;
  publicRaw: Uint8Array;
}

const enc = new TextEncoder();

/** The 4-byte C2SP key id of an Ed25519 key. */
export function keyId(name: string, publicRaw: Uint8Array): Uint8Array {
  const n = enc.encode(name);
  const buf = new Uint8Array(n.length + 2 + publicRaw.length);
  buf.set(n);
  buf[n.length] = 0x0a;
  buf[n.length + 1] = ALG_ED25519;
  buf.set(publicRaw, n.length + 2);
  return sha256Js(buf).slice(0, 4);
}

/** The C2SP verifier key string `<name>+<hex key id>+<base64(0x01 || key)>`. */
export function formatVkey(name: string, publicRaw: Uint8Array): string {
  const id = encodeHex(keyId(name, publicRaw));
  return `${name}+${id}+${encodeBase64(new Uint8Array([ALG_ED25519, ...publicRaw]))}`;
}

/** Parses a vkey string; undefined when malformed or not Ed25519. */
export function parseVkey(text: string): NoteVerifier | undefined {
  // Only the first two '+' separate fields: the base64 key may itself contain '+'.
  const m = /^([^+\s]+)\+([0-9a-fA-F]{8})\+(\S+)$/.exec(text.trim());
  if (!m) return undefined;
  const parts = m.slice(1);
  try {
    const raw = decodeBase64(parts[2]);
    if (raw.length !== 33 || raw[0] !== ALG_ED25519) return undefined;
    const publicRaw = raw.slice(1);
    return encodeHex(keyId(parts[0], publicRaw)) === parts[1].toLowerCase()
      ? { name: parts[0], publicRaw }
      : undefined;
  } catch {
    return undefined;
  }
}
