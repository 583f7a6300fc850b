// How many terminal columns text takes. Node measures it internally
// (util's getStringWidth) but has no public API for it, and the packages that
// do (string-width) bring three more; this is the same rule, compact: East
// Asian Wide and Fullwidth characters and emoji take two columns, combining
// marks and format characters none, the rest one. Tables escape control
// characters before they measure.

// Wide (W) and Fullwidth (F) ranges of Unicode's EastAsianWidth.txt, as Node's
// own fallback (isFullWidthCodePoint) groups them: pairs of first and last.
const WIDE = [
  0x1100, 0x115f, 0x2329, 0x232a, 0x2e80, 0x303e, 0x3040, 0x3247, 0x3250, 0x4dbf, 0x4e00, 0xa4c6, 0xa960, 0xa97c, 0xac00, 0xd7a3, 0xf900,
  0xfaff, 0xfe10, 0xfe19, 0xfe30, 0xfe6b, 0xff01, 0xff60, 0xffe0, 0xffe6, 0x1b000, 0x1b001, 0x1f200, 0x1f251, 0x20000, 0x3fffd,
];

const ZERO = /^[\p{Mn}\p{Me}\p{Cf}]$/u;
const EMOJI = /^\p{Emoji_Presentation}$/u;

/** Columns of one code point. */
function charWidth(char: string): number {
  const code = char.codePointAt(0)!;
  if (code < 0x300) return 1;
  if (ZERO.test(char)) return 0;
  for (let i = 0; i < WIDE.length; i += 2) {
    if (code < WIDE[i]!) break;
    if (code <= WIDE[i + 1]!) return 2;
  }
  return EMOJI.test(char) ? 2 : 1;
}

/** Columns `text` takes on a terminal. */
export function textWidth(text: string): number {
  // Plain ASCII, nearly every cell, without the walk.
  if (/^[\x20-\x7e]*$/.test(text)) return text.length;
  let width = 0;
  for (const char of text) width += charWidth(char);
  return width;
}

/** The longest start of `text` that takes at most `columns` columns (a wide character is not split). */
export function cutToWidth(text: string, columns: number): string {
  let width = 0;
  let end = 0;
  for (const char of text) {
    width += charWidth(char);
    if (width > columns) break;
    end += char.length;
  }
  return text.slice(0, end);
}
