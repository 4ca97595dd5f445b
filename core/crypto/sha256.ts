/**
 * SHA-256 (FIPS 180-4) in plain JavaScript, synchronous and allocation-free apart from the
 * 32-byte result. Two reasons to have it. The ledger hashes short inputs (a 65-byte node, a
 * ~150-byte leaf) millions of times during a full verify; at those sizes every call into native
 * code (node:crypto's createHash/update/digest) costs more than the compression itself, so this
 * is about twice as fast. And a service that needs no other part of node:crypto does not load it:
 * importing node:crypto costs a Deno process about 7 MB of resident memory, a tenth of an idle
 * service. Tests check it against node:crypto at every padding boundary.
 * @module
 */

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

const IV = new Int32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

/** The working state of one hash: message schedule, chaining value, padded last block(s). */
interface Scratch {
  w: Int32Array;
  h: Int32Array;
  tail: Uint8Array;
}

function newScratch(): Scratch {
  return { w: new Int32Array(64), h: new Int32Array(8), tail: new Uint8Array(128) };
}

// Module-level scratch, so a hash allocates nothing but its result. The hash is synchronous, yet
// the input can run code while it is read (a Uint8Array subclass's subarray, a Proxy's get trap)
// and that code may hash too: such a nested call gets scratch of its own.
const SHARED = newScratch();
let sharedInUse = false;

function compress(W: Int32Array, H: Int32Array, b: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++, off += 4) {
    W[i] = (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
  }
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15];
    const y = W[i - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = H[0], b1 = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b1) ^ (a & c) ^ (b1 & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b1;
    b1 = a;
    a = (t1 + t2) | 0;
  }
  H[0] = (H[0] + a) | 0;
  H[1] = (H[1] + b1) | 0;
  H[2] = (H[2] + c) | 0;
  H[3] = (H[3] + d) | 0;
  H[4] = (H[4] + e) | 0;
  H[5] = (H[5] + f) | 0;
  H[6] = (H[6] + g) | 0;
  H[7] = (H[7] + h) | 0;
}

/**
 * SHA-256 of `data[0:length]` (default: all of it), as a new 32-byte array.
 * @throws {RangeError} when `length` exceeds the input
 */
export function sha256Js(data: Uint8Array, length = data.length): Uint8Array {
  if (!(Number.isSafeInteger(length) && length >= 0 && length <= data.length)) {
    throw new RangeError(`length ${length} outside 0..${data.length}`);
  }
  if (sharedInUse) return hashWith(newScratch(), data, length);
  sharedInUse = true;
  try {
    return hashWith(SHARED, data, length);
  } finally {
    sharedInUse = false;
  }
}

function hashWith(s: Scratch, data: Uint8Array, length: number): Uint8Array {
  const { w: W, h: H, tail: TAIL } = s;
  H.set(IV);
  const full = length - (length % 64);
  for (let off = 0; off < full; off += 64) compress(W, H, data, off);
  const rest = length - full;
  TAIL.fill(0);
  TAIL.set(data.subarray(full, length));
  TAIL[rest] = 0x80;
  const end = rest + 9 <= 64 ? 64 : 128;
  // Message length in bits, big-endian 64-bit (split: bit shifts only cover 32 bits).
  const bits = length * 8;
  const hi = Math.floor(bits / 0x1_0000_0000);
  const lo = bits >>> 0;
  TAIL[end - 8] = hi >>> 24;
  TAIL[end - 7] = hi >>> 16;
  TAIL[end - 6] = hi >>> 8;
  TAIL[end - 5] = hi;
  TAIL[end - 4] = lo >>> 24;
  TAIL[end - 3] = lo >>> 16;
  TAIL[end - 2] = lo >>> 8;
  TAIL[end - 1] = lo;
  compress(W, H, TAIL, 0);
  if (end === 128) compress(W, H, TAIL, 64);
  const out = new Uint8Array(32);
  for (let i = 0, o = 0; i < 8; i++, o += 4) {
    const v = H[i];
    out[o] = v >>> 24;
    out[o + 1] = v >>> 16;
    out[o + 2] = v >>> 8;
    out[o + 3] = v;
  }
  return out;
}
