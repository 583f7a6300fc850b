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

/**
 * Text from outside (a name in /dev/shm, an argument repeated in an error)
 * as a table or an error line shows it, escaped as C writes it: control
 * characters (newline, ESC, ...), bidirectional controls and the backslash.
 * Anyone may name a file in /dev/shm: raw, a newline drew a fake row, an ESC
 * drove the terminal, and U+202E showed `x\u202Efdp.exe` as "xexe.pdf"; an
 * argument with a newline forged a second error line. JSON keeps names exact.
 */
export function printable(name: string): string {
  const named: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\r': '\\r' };
  return name.replace(/[\\\p{Cc}\p{Bidi_Control}]/gu, (c) => {
    const code = c.charCodeAt(0);
    return named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/** The most characters of one argument that an error message repeats. */
const SHOWN = 64;

/**
 * User text (an argument) as an error message repeats it: at most SHOWN
 * characters, then how long it was. A 100,000-digit id came back in full.
 * main escapes the whole line ({@link printable}).
 */
export function clip(text: string): string {
  if (text.length <= SHOWN) return text;
  // Never half of a surrogate pair.
  const end = /[\ud800-\udbff]/.test(text[SHOWN - 1]!) ? SHOWN - 1 : SHOWN;
  return `${text.slice(0, end)}… (${text.length} characters)`;
}

/** User text quoted in a message: 'text', clipped. */
export function quote(text: string): string {
  return `'${clip(text)}'`;
}

/** Lines joined, each ending in a newline. */
export function lines(list: readonly string[]): string {
  return list.map((l) => `${l}\n`).join('');
}
