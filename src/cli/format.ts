// Formatting shared by the commands: keys as ipcs prints them, times, JSON.

/** A key as ipcs prints it: 0x and 8 hex digits of the unsigned value. */
export function hexKey(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

/** Permission bits in octal, without a leading 0 (as ipcs's perms column). */
export function octal(mode: number): string {
  return (mode & 0o777).toString(8);
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** An epoch time in seconds as local "YYYY-MM-DD HH:MM:SS", or "not set" for 0 (as ipcs). */
export function formatTime(seconds: number): string {
  if (seconds === 0) return 'not set';
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/**
 * JSON as the commands print it: two-space indent and a final newline. A
 * bigint that slipped through becomes a decimal string, the form DESIGN.md
 * fixes for numbers that can exceed 2^53.
 */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}

/** Lines joined, each ending in a newline. */
export function lines(list: readonly string[]): string {
  return list.map((l) => `${l}\n`).join('');
}
