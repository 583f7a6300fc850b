// Numbers as the reports print them: latest.md, latest.svg and README's table.

export function sizeName(size: number): string {
  return size >= 1048576 ? `${size / 1048576} MiB` : size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
}

/** A count or rate, short: 8.66 M, 419 k, 0.49. */
export function num(x: number | undefined, digits = 2): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  if (Number.isInteger(x) && Math.abs(x) < 1e4) return String(x);
  if (Math.abs(x) >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (Math.abs(x) >= 1e4) return `${(x / 1e3).toFixed(0)} k`;
  return x.toFixed(digits);
}

/**
 * A target's ratio, with as many digits as it takes for the printed number to
 * fall on the side of the bound that the verdict says: 1.204 against "<= 1.2"
 * prints 1.204, not a missed "1.20".
 */
export function ratioText(ratio: number, requirement: string, met: boolean): string {
  const [op, bound] = requirement.split(' ') as [string, string];
  const side = (x: number) => (op === '<=' ? x <= Number(bound) : x >= Number(bound));
  let text = '';
  for (let digits = 2; digits <= 8; digits++) {
    text = ratio < 0.1 ? ratio.toPrecision(digits) : ratio.toFixed(digits);
    if (side(Number(text)) === met) break;
  }
  return text;
}
