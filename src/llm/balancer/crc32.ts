// CRC-32 (IEEE 802.3, the zlib/nginx ngx_crc32_long polynomial), table based.
// node:zlib's crc32 only exists from Node 22, so we carry our own.
const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC32 of the UTF-8 bytes of `s`, as an unsigned 32-bit integer */
export function crc32(s: string | Uint8Array): number {
  const buf = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  let c = -1;
  for (let i = 0; i < buf.length; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
