/**
 * Turns one run's measurements into what people read: a plain-text table for stdout, Markdown for
 * docs/benchmarks.md, and a hand-written SVG bar chart of the rxnet/raw ratios (no dependencies).
 *
 * @packageDocumentation
 */

/** A target on the rxnet/raw ratio: `>=` for throughput, `<=` for memory. */
export interface Target {
  readonly op: '>=' | '<=';
  readonly value: number;
}

/** One workload case measured against both servers. */
export interface Comparison {
  readonly workload: string;
  readonly case: string;
  readonly metric: string;
  readonly raw: number;
  readonly rxnet: number;
  /** rxnet / raw. */
  readonly ratio: number;
  readonly target: Target;
  readonly met: boolean;
  /** Further figures for the workload's detail table, as [raw, rxnet]. */
  readonly details: Readonly<Record<string, readonly [number, number]>>;
  /**
   * The metric per second of server CPU, and its rxnet/raw ratio. On a machine shared with other
   * work, a server gets whatever CPU is left, so throughput ratios swing from run to run; work done
   * per CPU-second does not depend on how much CPU the server was given.
   */
  readonly perCpu?: { readonly raw: number; readonly rxnet: number; readonly ratio: number };
  readonly note?: string;
}

export function compare(
  workload: string,
  caseName: string,
  metric: string,
  raw: number,
  rxnet: number,
  target: Target,
  details: Record<string, readonly [number, number]> = {},
  extra: { readonly perCpu?: readonly [number, number]; readonly note?: string } = {},
): Comparison {
  const ratio = rxnet / raw;
  const met = target.op === '>=' ? ratio >= target.value : ratio <= target.value;
  const perCpu =
    extra.perCpu === undefined
      ? undefined
      : { raw: extra.perCpu[0], rxnet: extra.perCpu[1], ratio: extra.perCpu[1] / extra.perCpu[0] };
  return {
    workload,
    case: caseName,
    metric,
    raw,
    rxnet,
    ratio,
    target,
    met,
    details,
    ...(perCpu === undefined ? {} : { perCpu }),
    ...(extra.note === undefined ? {} : { note: extra.note }),
  };
}

/** Formats a figure with three significant digits and a k/M suffix. */
export function human(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toPrecision(3)}k`;
  if (abs >= 100) return value.toFixed(0);
  return value.toPrecision(3);
}

function caseText(c: Comparison): string {
  return c.note === undefined ? c.case : `${c.case} (${c.note})`;
}

function mark(c: Comparison): string {
  return c.met ? 'yes' : 'NO';
}

function targetText(t: Target): string {
  return `${t.op === '>=' ? '≥' : '≤'} ${t.value}`;
}

/** A fixed-width table for a terminal. */
export function textTable(comparisons: readonly Comparison[]): string {
  const header = [
    'workload',
    'case',
    'metric',
    'raw',
    'rxnet',
    'rxnet/raw',
    'target',
    'met',
    'per CPU-s',
  ];
  const rows = comparisons.map((c) => [
    c.workload,
    caseText(c),
    c.metric,
    human(c.raw),
    human(c.rxnet),
    c.ratio.toFixed(2),
    targetText(c.target),
    mark(c),
    c.perCpu === undefined ? '' : c.perCpu.ratio.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const numeric = new Set([3, 4, 5, 8]);
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: ReadonlySet<number>,
): string {
  const align = header.map((_, i) => (rightAligned.has(i) ? '---:' : '---'));
  return [header, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** The summary table: one row per case, with the ratio and whether it meets its target. */
export function markdownSummary(comparisons: readonly Comparison[]): string {
  return markdownTable(
    [
      'Workload',
      'Case',
      'Metric',
      'raw `net`',
      'rxnet',
      'rxnet/raw',
      'Target',
      'Met',
      'rxnet/raw per server CPU-s',
    ],
    comparisons.map((c) => [
      c.workload,
      caseText(c),
      c.metric,
      human(c.raw),
      human(c.rxnet),
      `**${c.ratio.toFixed(2)}**`,
      targetText(c.target),
      c.met ? '✅' : '❌',
      c.perCpu === undefined ? '' : c.perCpu.ratio.toFixed(2),
    ]),
    new Set([3, 4, 5, 8]),
  );
}

/** One detail table per workload, with every figure side by side. */
export function markdownDetails(comparisons: readonly Comparison[]): string {
  const sections: string[] = [];
  for (const workload of [...new Set(comparisons.map((c) => c.workload))]) {
    const rows = comparisons.filter((c) => c.workload === workload);
    const keys = [...new Set(rows.flatMap((c) => Object.keys(c.details)))];
    const header = [
      'Case',
      `${rows[0]!.metric} raw`,
      `${rows[0]!.metric} rxnet`,
      ...keys.flatMap((k) => [`${k} raw`, `${k} rxnet`]),
    ];
    const body = rows.map((c) => [
      caseText(c),
      human(c.raw),
      human(c.rxnet),
      ...keys.flatMap((k) => (c.details[k] ?? [Number.NaN, Number.NaN]).map(human)),
    ]);
    sections.push(
      `#### ${workload}\n\n${markdownTable(header, body, new Set(header.map((_, i) => i).filter((i) => i > 0)))}`,
    );
  }
  return sections.join('\n\n');
}

/** Where the chart's ratio axis ends; longer bars are cut. */
const AXIS_MAX = 2;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A horizontal bar per case: the rxnet/raw ratio on a linear axis, a tick at each case's target,
 * green when it is met and red when not. Written by hand so the report needs no chart library.
 */
export function svgChart(comparisons: readonly Comparison[], title: string): string {
  // Wide enough for the longest label at about 7 px a character in 12 px sans-serif.
  const longest = Math.max(...comparisons.map((c) => `${c.workload}: ${c.case}`.length));
  const labelWidth = Math.max(330, Math.ceil(longest * 7) + 16);
  const plotWidth = 420;
  const rowHeight = 22;
  const top = 48;
  const width = labelWidth + plotWidth + 70;
  const height = top + comparisons.length * rowHeight + 40;
  // Fan-out ratios reach 10× and more; a linear axis to there would flatten every other bar, so
  // the axis stops at AXIS_MAX and longer bars are cut with a marker and their value printed.
  const scale = plotWidth / AXIS_MAX;
  const x = (ratio: number): number => labelWidth + ratio * scale;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="10" y="36" fill="#555555">rxnet ÷ raw net, one run. Throughput: higher is better (target ≥ tick). Memory: lower is better (target ≤ tick).</text>`,
  ];
  for (let r = 0; r <= AXIS_MAX + 1e-9; r += 0.25) {
    const gx = x(r);
    const strong = Math.abs(r - 1) < 1e-9;
    parts.push(
      `<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${top + comparisons.length * rowHeight}" stroke="${strong ? '#333333' : '#dddddd'}" stroke-width="${strong ? 1.5 : 1}"/>`,
    );
    parts.push(
      `<text x="${gx}" y="${top + comparisons.length * rowHeight + 16}" text-anchor="middle" fill="#555555">${r.toFixed(2)}</text>`,
    );
  }
  comparisons.forEach((c, i) => {
    const y = top + i * rowHeight;
    const value = Number.isFinite(c.ratio) ? c.ratio : 0;
    const ratio = Math.min(value, AXIS_MAX);
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escapeXml(`${c.workload}: ${c.case}`)}</text>`,
    );
    parts.push(
      `<rect x="${labelWidth}" y="${y + 4}" width="${Math.max(0, x(ratio) - labelWidth)}" height="${rowHeight - 8}" fill="${c.met ? '#4caf50' : '#e53935'}"/>`,
    );
    if (value > AXIS_MAX) {
      // A cut bar: two white chevrons near its end.
      parts.push(
        `<path d="M${x(ratio) - 14} ${y + 4} l6 7 l-6 7 M${x(ratio) - 8} ${y + 4} l6 7 l-6 7" stroke="#ffffff" stroke-width="2" fill="none"/>`,
      );
    }
    const tx = x(c.target.value);
    parts.push(
      `<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + rowHeight - 1}" stroke="#000000" stroke-width="2"/>`,
    );
    parts.push(`<text x="${x(ratio) + 6}" y="${y + 15}">${value.toFixed(2)}×</text>`);
  });
  parts.push(
    `<text x="${labelWidth + plotWidth / 2}" y="${height - 6}" text-anchor="middle" fill="#555555">rxnet / raw</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
