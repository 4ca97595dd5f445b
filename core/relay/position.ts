/**
 * Resumable positions: an SSE id is `<epoch>-<seq>`. The epoch names one relay history (a
 * memory relay gets a new one per start; a SQLite relay keeps its own), so a client resuming
 * with an id from another history is told to reset instead of silently missing events.
 * @module
 */

/** A parsed position. */
export interface Position {
  epoch: string;
  seq: number;
}

const POSITION = /^([A-Za-z0-9]{1,32})-(\d{1,15})$/;

/** Formats a position as an SSE id. */
export function formatPosition(epoch: string, seq: number): string {
  return `${epoch}-${seq}`;
}

/** Parses an SSE id; undefined when it is not one of ours. */
export function parsePosition(id: string | null | undefined): Position | undefined {
  if (!id) return undefined;
  const m = POSITION.exec(id.trim());
  if (!m) return undefined;
  const seq = Number(m[2]);
  return Number.isSafeInteger(seq) ? { epoch: m[1], seq } : undefined;
}

/** A fresh random epoch: 12 base-36 characters. */
export function newEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n.toString(36).padStart(12, "0").slice(-12);
}
