/**
 * Decoding of Docker's log stream. Containers without a TTY send a multiplexed stream of frames
 * (`[stream, 0, 0, 0, size u32 BE]` + payload, stream 1 = stdout, 2 = stderr); TTY containers
 * send raw bytes.
 * @module
 */

/** One decoded log chunk. */
export interface LogChunk {
  stream: "stdout" | "stderr";
  text: string;
}

/** True when `bytes` starts with a plausible multiplexed frame header. */
export function looksMultiplexed(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] <= 2 && bytes[1] === 0 && bytes[2] === 0 &&
    bytes[3] === 0;
}

/** Splits a multiplexed stream into chunks; a truncated last frame keeps what arrived. */
export function demuxLogs(bytes: Uint8Array): LogChunk[] {
  const out: LogChunk[] = [];
  const dec = new TextDecoder();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  while (off + 8 <= bytes.length) {
    const stream = bytes[off] === 2 ? "stderr" : "stdout";
    const size = view.getUint32(off + 4);
    const end = Math.min(bytes.length, off + 8 + size);
    out.push({ stream, text: dec.decode(bytes.subarray(off + 8, end)) });
    off = end;
  }
  return out;
}

/** Log text from either stream format. */
export function decodeLogs(bytes: Uint8Array, tty: boolean): string {
  if (tty || !looksMultiplexed(bytes)) return new TextDecoder().decode(bytes);
  return demuxLogs(bytes).map((c) => c.text).join("");
}
