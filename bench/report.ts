// The benchmark's report: its shape (latest.json), and latest.md and latest.svg
// rendered from it, whether just measured (main.ts) or read back (--render).
import type { Scale, SuiteResult } from './channel.js';
import type { Range, RoundTripSummary, ThroughputSummary } from './rounds.js';
import { num, ratioText, sizeName } from './format.js';
import type { TargetResult } from './targets.js';

export interface OtherBench {
  name: string;
  module: string;
  status: 'ok' | 'absent' | 'failed';
  note?: string;
  result?: unknown;
}

export interface BenchReport {
  schema: 'shmkit-bench/2';
  date: string;
  scale: Scale;
  machine: {
    cpuModel: string;
    cores: number;
    availableParallelism: number;
    kernel: string;
    node: string;
    loadAverage: number[];
  };
  sizes: readonly number[];
  /** Medians over the rounds (with ranges); each round is in `rounds`. */
  unpinned: SuiteResult;
  pinned: SuiteResult | null;
  pinnedNote?: string;
  rounds: { unpinned: SuiteResult[]; pinned: SuiteResult[] };
  targets: TargetResult[];
  /** Every channel row over every other transport, measured in this run (medians): lower is better for rtt, higher for rate. */
  ratios: { unpinned: Record<string, number>; pinned: Record<string, number> };
  other: OtherBench[];
  seconds: number;
}

/** A median with its range over rounds, when there were several. */
function spread(x: number | undefined, range: Range | undefined, digits = 2, scale = 1): string {
  if (x === undefined) return '–';
  if (!range || range.min === range.max) return num(x / scale, digits);
  return `${num(x / scale, digits)} (${num(range.min / scale, digits)}–${num(range.max / scale, digits)})`;
}

function labelOf(r: BenchReport, id: string): string {
  return r.unpinned.transports.find((t) => t.id === id)?.label ?? id;
}

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

function cell(v: unknown): string {
  return typeof v === 'number' ? num(v, 3) : isScalar(v) ? String(v) : JSON.stringify(v);
}

function heading(name: string): string[] {
  return name ? [`**${name}**`, ''] : [];
}

/** Whatever another benchmark returned, as tables: arrays of records, records of scalars, then scalars. */
function renderValue(name: string, value: unknown): string[] {
  if (isScalar(value)) return [`- ${name}: ${cell(value)}`];
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((row) => typeof row === 'object' && row !== null && !Array.isArray(row))) {
      const keys = [...new Set(value.flatMap((row) => Object.keys(row as object)))];
      return [
        '',
        ...heading(name),
        table(
          keys,
          value.map((row) => keys.map((k) => cell((row as Record<string, unknown>)[k]))),
        ),
        '',
      ];
    }
    return [`- ${name}: ${cell(value)}`];
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.every(([, v]) => isScalar(v))) {
    return [
      '',
      ...heading(name),
      table(
        ['', 'value'],
        entries.map(([k, v]) => [k, cell(v)]),
      ),
      '',
    ];
  }
  return entries.flatMap(([k, v]) => renderValue(name ? `${name}.${k}` : k, v));
}

function otherSection(o: OtherBench): string {
  if (o.status !== 'ok') return `### ${o.name}\n\n${o.note ?? o.status}\n`;
  return `### ${o.name}\n\n${renderValue('', o.result).join('\n')}\n`;
}

/** latest.md: targets, tables and the other benchmarks, for people. */
export function renderMarkdown(r: BenchReport): string {
  const m = r.machine;
  const ids = r.unpinned.transports.map((t) => t.id);
  const out: string[] = [];
  out.push(`# shmkit benchmark`, '');
  out.push(
    `${r.date} · ${m.cpuModel}, ${m.cores} cores (${m.availableParallelism} usable) · Linux ${m.kernel} · Node ${m.node} · ` +
      `load average ${m.loadAverage.join(' / ')} · scale \`${r.scale}\` · ${r.rounds.unpinned.length} round(s) · ${r.seconds.toFixed(0)} s`,
    '',
    'One run on one machine: every ratio below compares numbers measured in this run. ' +
      'Round trips are 64-byte messages echoed by a peer process; throughput is one way, measured at the receiver after a warm-up. ' +
      "The 'spin' channel row's round trip calls trySend/tryRecvInto in a spin loop (as the shm-typed-array row does); the other channel rows await send/recvInto. " +
      '"Pinned" runs both processes on one CPU (`taskset -c 0`). ' +
      'With several rounds, each number is the median over the rounds, with the lowest and highest in brackets. Within a round, each message size is measured for every transport back to back, and the order of the transports flips from one round to the next, so rows that a target compares are measured close together in time.',
    '',
  );

  out.push('## Targets', '');
  const judged = r.scale === 'full';
  if (!judged)
    out.push(
      `Targets are judged only in full runs (\`npm run bench\`): this \`${r.scale}\` run is too short, so its ratios are shown, not judged.`,
      '',
    );
  out.push(
    table(
      ['', 'target', 'measured', 'ratio', 'required'],
      r.targets.map((t) => [
        judged ? (t.met ? '✅ met' : '❌ missed') : 'not judged',
        t.description,
        t.measured,
        t.ratio === null ? '–' : ratioText(t.ratio, t.requirement, t.met),
        t.requirement,
      ]),
    ),
    '',
  );
  for (const t of r.targets.filter((t) => t.note)) out.push(`- **${t.met || !judged ? 'Note' : 'Missed'}: ${t.description}.** ${t.note}`);
  out.push('');

  const costs = r.unpinned.costs;
  if (costs) {
    out.push('## CPU cost of one message in one process (lower is better; the unit ends each name)', '');
    out.push(
      'Sender and receiver work of one message, measured in a single process (no cache line crosses cores): what the cross-process numbers are made of.',
      '',
    );
    out.push(
      table(
        ['what', 'cost'],
        Object.entries(costs).map(([k, v]) => [k, num(v, 1)]),
      ),
      '',
    );
  }

  const p = r.pinned;
  out.push('## Round trip, 64-byte messages (µs, lower is better)', '');
  const rtt = (suite: SuiteResult | null, id: string) => suite?.roundTrip[id] as RoundTripSummary | undefined;
  const rttRows = ids
    .filter((id) => r.unpinned.roundTrip[id] || p?.roundTrip[id])
    .map((id) => [
      labelOf(r, id),
      spread(rtt(r.unpinned, id)?.median_us, rtt(r.unpinned, id)?.range_us),
      num(rtt(r.unpinned, id)?.p99_us),
      spread(rtt(p, id)?.median_us, rtt(p, id)?.range_us),
      num(rtt(p, id)?.p99_us),
    ]);
  for (const [label, key] of [
    ['*C shared-memory ping-pong, spinning (reference)*', 'pingPong'],
    ['*C futex ping-pong, brief spin then FUTEX_WAIT (reference)*', 'pingPongFutex'],
  ] as const) {
    const a = r.unpinned.c[key] as RoundTripSummary | null | undefined;
    const b = p?.c[key] as RoundTripSummary | null | undefined;
    rttRows.push([label, spread(a?.median_us, a?.range_us), num(a?.p99_us), spread(b?.median_us, b?.range_us), num(b?.p99_us)]);
  }
  out.push(table(['transport', 'median', 'p99', 'median, pinned', 'p99, pinned'], rttRows), '');

  for (const [title, key, digits] of [
    ['One-way throughput, messages/s', 'messages_per_s', 0],
    ['One-way throughput, GB/s', 'gb_per_s', 3],
  ] as const) {
    for (const suite of [r.unpinned, p]) {
      if (!suite) continue;
      const sizes = r.sizes.filter((size) => Object.values(suite.throughput).some((rows) => rows[size]));
      out.push(`## ${title}${suite.pinned ? ', pinned to one CPU' : ''}`, '');
      const cellOf = (row: ThroughputSummary | undefined) =>
        spread(row?.[key], key === 'gb_per_s' ? row?.range_gb_per_s : row?.range_messages_per_s, digits);
      const rows = ids.map((id) => [
        labelOf(r, id),
        ...sizes.map((size) => cellOf(suite.throughput[id]?.[size] as ThroughputSummary | undefined)),
      ]);
      rows.push(['*C memcpy (reference)*', ...sizes.map((size) => cellOf(suite.c.memcpy[size] as ThroughputSummary | undefined))]);
      out.push(table(['transport', ...sizes.map(sizeName)], rows), '');
    }
  }

  if (p) {
    const rank = (suite: SuiteResult) =>
      Object.entries(suite.roundTrip)
        .sort((a, b) => a[1].median_us - b[1].median_us)
        .map(([id, v]) => `${id} ${num(v.median_us)}`)
        .join(' < ');
    out.push('## Ranking by 64 B round trip', '', `- two CPUs: ${rank(r.unpinned)}`, `- one CPU: ${rank(p)}`, '');
  }
  if (r.pinnedNote) out.push(`Pinned run: ${r.pinnedNote}.`, '');

  out.push('## Other benchmarks', '');
  for (const o of r.other) out.push(otherSection(o));

  const errors = [...Object.entries(r.unpinned.errors), ...Object.entries(p?.errors ?? {}).map(([k, v]) => [`pinned ${k}`, v])];
  if (errors.length > 0) {
    out.push('## Errors', '');
    for (const [what, message] of errors) out.push(`- ${what}: ${message}`);
    out.push('');
  }
  return `${out.join('\n')}\n`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Panel {
  title: string;
  unit: string;
  log: boolean;
  rows: Array<{ label: string; a: number | undefined; b: number | undefined; channel: boolean }>;
  reference?: { label: string; value: number | undefined };
}

/** latest.svg, a hand-written horizontal bar chart: one panel per question, two bars per transport (two CPUs, one CPU). */
export function renderSvg(r: BenchReport): string {
  const p = r.pinned;
  const ids = r.unpinned.transports.map((t) => t.id);
  // A panel's rows: each transport's value in the run on two CPUs (a) and pinned to one (b).
  const rows = (shown: string[], value: (suite: SuiteResult | null, id: string) => number | undefined) =>
    shown.map((id) => ({ label: labelOf(r, id), a: value(r.unpinned, id), b: value(p, id), channel: id.startsWith('channel') }));
  const panels: Panel[] = [
    {
      title: 'Round trip, 64 B — median µs (log scale, shorter is better)',
      unit: 'µs',
      log: true,
      rows: rows(
        ids.filter((id) => r.unpinned.roundTrip[id]),
        (suite, id) => suite?.roundTrip[id]?.median_us,
      ),
      reference: { label: 'C ping-pong', value: r.unpinned.c.pingPong?.median_us },
    },
    {
      title: 'One-way rate, 64 B messages — messages/s (log scale, longer is better)',
      unit: 'msg/s',
      log: true,
      rows: rows(ids, (suite, id) => suite?.throughput[id]?.[64]?.messages_per_s),
    },
    {
      title: 'One-way throughput, 1 MiB messages — GB/s (longer is better)',
      unit: 'GB/s',
      log: false,
      rows: rows(ids, (suite, id) => suite?.throughput[id]?.[1048576]?.gb_per_s),
      reference: { label: 'C memcpy', value: r.unpinned.c.memcpy[1048576]?.gb_per_s },
    },
  ];
  const width = 1060;
  const labelWidth = 340;
  const plotWidth = width - labelWidth - 110;
  const rowHeight = 26;
  const parts: string[] = [];
  let y = 20;
  parts.push(
    `<text x="20" y="${y + 8}" font-size="18" font-weight="bold">shmkit channel vs other Node IPC — ${escapeXml(r.machine.cpuModel)}, ${r.machine.cores} cores, Node ${escapeXml(r.machine.node)}</text>`,
  );
  y += 22;
  parts.push(
    `<rect x="20" y="${y}" width="12" height="12" fill="#2b6cb0"/><text x="38" y="${y + 11}" font-size="12">both processes free to use ${r.unpinned.cpus} CPUs</text>`,
    `<rect x="280" y="${y}" width="12" height="12" fill="#dd8a2e"/><text x="298" y="${y + 11}" font-size="12">both pinned to one CPU${p ? '' : ' (not measured)'}</text>`,
    `<text x="520" y="${y + 11}" font-size="12">bold label: shmkit channel · scale ${r.scale} · ${escapeXml(r.date.slice(0, 10))}</text>`,
  );
  y += 30;
  for (const panel of panels) {
    const values = panel.rows
      .flatMap((row) => [row.a, row.b])
      .concat(panel.reference?.value)
      .filter((v): v is number => v !== undefined && v > 0);
    const max = Math.max(...values, 1e-9);
    const min = Math.min(...values, max);
    const lo = panel.log ? 10 ** Math.floor(Math.log10(min)) : 0;
    const hi = panel.log ? 10 ** Math.ceil(Math.log10(max)) : max * 1.05;
    const scale = (v: number) =>
      panel.log ? ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo) || 1)) * plotWidth : (v / hi) * plotWidth;
    parts.push(`<text x="20" y="${y + 14}" font-size="15" font-weight="bold">${escapeXml(panel.title)}</text>`);
    y += 24;
    const top = y;
    for (const row of panel.rows) {
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 15}" font-size="12" text-anchor="end"${row.channel ? ' font-weight="bold"' : ''}>${escapeXml(row.label)}</text>`,
      );
      for (const [value, color, dy] of [
        [row.a, '#2b6cb0', 2],
        [row.b, '#dd8a2e', 13],
      ] as const) {
        if (value === undefined || !(value > 0)) continue;
        const w = Math.max(1, scale(Math.max(value, lo)));
        parts.push(`<rect x="${labelWidth}" y="${y + dy}" width="${w.toFixed(1)}" height="10" fill="${color}"/>`);
        parts.push(
          `<text x="${(labelWidth + w + 4).toFixed(1)}" y="${y + dy + 9}" font-size="10">${escapeXml(num(value))} ${panel.unit}</text>`,
        );
      }
      y += rowHeight;
    }
    if (panel.reference?.value) {
      const x = labelWidth + scale(Math.max(panel.reference.value, lo));
      parts.push(`<line x1="${x.toFixed(1)}" y1="${top - 4}" x2="${x.toFixed(1)}" y2="${y}" stroke="#c53030" stroke-dasharray="4 3"/>`);
      parts.push(
        `<text x="${(x + 3).toFixed(1)}" y="${y + 12}" font-size="11" fill="#c53030">${escapeXml(panel.reference.label)} ${escapeXml(num(panel.reference.value))} ${panel.unit}</text>`,
      );
    }
    parts.push(`<line x1="${labelWidth}" y1="${top - 4}" x2="${labelWidth}" y2="${y}" stroke="#555"/>`);
    y += 30;
  }
  const met = r.targets.filter((t) => t.met).length;
  const verdicts =
    r.scale === 'full'
      ? `Targets met: ${met} of ${r.targets.length} — ${r.targets.map((t) => `${t.id} ${t.met ? '✓' : '✗'}`).join(', ')}`
      : `Targets are judged only in full runs; this ${r.scale} run is not judged`;
  parts.push(`<text x="20" y="${y}" font-size="13">${escapeXml(verdicts)}</text>`);
  y += 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="system-ui, sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
