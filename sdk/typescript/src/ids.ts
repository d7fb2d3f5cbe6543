/**
 * Returns a client message id: 16 bytes in hex, the time in milliseconds
 * since 1970 (6 bytes, big-endian) and 10 random bytes, the layout of a
 * version 7 UUID without its version bits. The ids of one client grow with
 * time, so the server files each sender's new ids side by side in its
 * dedup index instead of at random places all over it (at a million
 * messages stored, random ids made storing a message 40-50% more
 * expensive, and more as the history grows).
 */
export function newClientMsgId(now: number = Date.now()): string {
  let ms = Math.max(Math.floor(now), 0);
  const b = new Uint8Array(16);
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  globalThis.crypto.getRandomValues(b.subarray(6));
  return hex(b);
}

/** Returns n random bytes in hex. */
export function randomHex(n: number): string {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return hex(b);
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
