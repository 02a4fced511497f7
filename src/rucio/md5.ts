/**
 * @internal MD5 (RFC 1321) of a short string, in plain JavaScript: what the `hash` LFN → PFN
 * algorithm needs for `scope:name`. It keeps hash-wasm (and WebAssembly, which strict CSPs such as
 * an MV3 extension's default refuse) out of the Rucio client; the staging checksums, which stream
 * whole files, stay on hash-wasm.
 * @module
 */

// MD5_T[i] = floor(|sin(i + 1)| · 2^32), RFC 1321 §3.4 (written out: no engine-dependent Math.sin).
/** @internal */
export const MD5_T = [
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];
// Per-round left rotations.
/** @internal */
export const MD5_S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/** @internal MD5 of the UTF-8 bytes of `text`, as 32 lowercase hex digits. */
export function md5Hex(text: string): string {
  const bytes = new TextEncoder().encode(text);
  const n = bytes.length;
  // Message + 0x80 + zero padding + 64-bit little-endian bit length, in 16-word (64-byte) blocks.
  const words = new Uint32Array(((n + 8) >>> 6) * 16 + 16);
  for (let i = 0; i < n; i++) words[i >> 2]! |= bytes[i]! << ((i & 3) * 8);
  words[n >> 2]! |= 0x80 << ((n & 3) * 8);
  words[words.length - 2] = (n * 8) >>> 0;
  words[words.length - 1] = Math.floor(n / 0x20000000);
  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  for (let block = 0; block < words.length; block += 16) {
    const a0 = a;
    const b0 = b;
    const c0 = c;
    const d0 = d;
    for (let j = 0; j < 64; j++) {
      const round = j >> 4;
      let f: number;
      let g: number;
      if (round === 0) {
        f = (b & c) | (~b & d);
        g = j;
      } else if (round === 1) {
        f = (d & b) | (~d & c);
        g = (5 * j + 1) & 15;
      } else if (round === 2) {
        f = b ^ c ^ d;
        g = (3 * j + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * j) & 15;
      }
      const s = MD5_S[round * 4 + (j & 3)]!;
      const x = (a + f + MD5_T[j]! + words[block + g]!) | 0;
      a = d;
      d = c;
      c = b;
      b = (b + ((x << s) | (x >>> (32 - s)))) | 0;
    }
    a = (a + a0) | 0;
    b = (b + b0) | 0;
    c = (c + c0) | 0;
    d = (d + d0) | 0;
  }
  let hex = '';
  for (const v of [a, b, c, d]) for (let k = 0; k < 4; k++) hex += ((v >>> (k * 8)) & 0xff).toString(16).padStart(2, '0');
  return hex;
}
