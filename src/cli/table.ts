// Human tables: columns as wide as their widest cell, narrowed to the
// terminal by dropping the least useful columns first, colour only on a TTY.

import type { Output } from './command.js';
import { cutToWidth, textWidth } from './width.js';

export type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';

const SGR: Record<Style, string> = { bold: '1', dim: '2', red: '31', green: '32', yellow: '33', cyan: '36' };

/** `text` in `style` when `color` is on. */
export function paint(text: string, style: Style | undefined, color: boolean): string {
  return color && style && text.length > 0 ? `\x1b[${SGR[style]}m${text}\x1b[0m` : text;
}

/** Whether stdout gets colour: a terminal, and NO_COLOR unset (https://no-color.org), TERM not dumb. */
export function useColor(stream: Output): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

/**
 * How wide the output may be: on a terminal COLUMNS if set, else its width;
 * elsewhere unlimited. A pipe or a file gets whole lines whatever COLUMNS
 * says (shells export it, and a script reading the output would lose columns).
 */
export function outputWidth(stream: Output): number {
  if (stream.isTTY !== true) return Infinity;
  const env = Number(process.env.COLUMNS);
  if (Number.isInteger(env) && env > 0) return env;
  if (stream.columns !== undefined && stream.columns > 0) return stream.columns;
  return Infinity;
}

export interface Column<Row> {
  header: string;
  cell(row: Row): string;
  align?: 'left' | 'right';
  /** Columns with a `drop` rank go when the width is short, lowest rank first; others always stay. */
  drop?: number;
  style?(row: Row): Style | undefined;
}

export interface TableOptions {
  width?: number;
  color?: boolean;
  /** Space between columns. */
  gap?: number;
}

/** The table's lines (without newlines), header first. */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[], options: TableOptions = {}): string[] {
  const { width = Infinity, color = false, gap = 2 } = options;
  const cells = rows.map((row) => columns.map((c) => c.cell(row)));
  // In terminal columns, not UTF-16 units: a CJK name takes two a character.
  const widths = columns.map((c, i) => Math.max(textWidth(c.header), ...cells.map((r) => textWidth(r[i]!))));
  const shown = columns.map(() => true);
  const total = () => widths.reduce((sum, w, i) => sum + (shown[i] ? w + gap : 0), -gap);
  const droppable = columns
    .map((c, i) => ({ rank: c.drop, i }))
    .filter((d): d is { rank: number; i: number } => d.rank !== undefined)
    .sort((a, b) => a.rank - b.rank);
  while (total() > width && droppable.length > 0) shown[droppable.shift()!.i] = false;

  const visible = columns.map((_, i) => i).filter((i) => shown[i]);
  const line = (texts: string[], styles: (Style | undefined)[]): string => {
    let out = '';
    let used = 0;
    for (const [n, i] of visible.entries()) {
      const lead = n === 0 ? '' : ' '.repeat(gap);
      let text = texts[i]!;
      let textColumns = textWidth(text);
      const pad = ' '.repeat(widths[i]! - textColumns);
      const right = columns[i]!.align === 'right';
      const last = n === visible.length - 1;
      let before = right ? pad : '';
      let after = right || last ? '' : pad;
      // Still too wide with every droppable column gone: cut, marking the cut
      // (the value, not its padding, is what stays), also when the columns
      // after this one find no room at all.
      const room = width - used - lead.length;
      if (room <= 0) break;
      const full = before.length + textColumns + after.length;
      const crowdsOut = !last && full + gap + 1 > room;
      if (full > room || crowdsOut) {
        text = textColumns + 2 <= room ? `${text} …` : `${cutToWidth(text, Math.max(0, room - 1))}…`;
        textColumns = textWidth(text);
        before = '';
        after = '';
      }
      out += lead + before + paint(text, styles[i], color) + after;
      used += lead.length + before.length + textColumns + after.length;
      if (full > room || crowdsOut) break;
    }
    return out.trimEnd();
  };

  return [
    line(
      columns.map((c) => c.header),
      columns.map(() => 'bold'),
    ),
    ...rows.map((row, r) =>
      line(
        cells[r]!,
        columns.map((c) => c.style?.(row)),
      ),
    ),
  ];
}
