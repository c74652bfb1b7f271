/**
 * Turns one run's measurements into what people read: a plain-text table for stdout, Markdown for
 * docs/benchmarks.md, and a hand-written SVG bar chart of the rxnet/raw ratios (no dependencies).
 * Each row compares rxnet with a raw `net` server and, where the workload has one, a Twisted
 * server doing the same work; {@link baselineLegend} names the servers behind every column.
 *
 * @packageDocumentation
 */

/**
 * A target on the rxnet/raw ratio (`>=` for throughput), or with `absolute` on rxnet's own
 * figure (idle memory: at most 2,500 B per connection, whatever raw's is).
 */
export interface Target {
  readonly op: '>=' | '<=';
  readonly value: number;
  readonly absolute?: boolean;
}

/** Figures for one detail column: raw, rxnet and, when the row has a Twisted server, Twisted. */
export type Figures = readonly [raw: number, rxnet: number, twisted?: number];

/**
 * The third column: the same case against a Twisted server, with rxnet's ratio to it (throughput
 * and per server CPU-second), or why there is none (Twisted not installed, the server failed).
 */
export type TwistedFigure =
  | {
      readonly server: string;
      readonly value: number;
      /** rxnet / Twisted. */
      readonly ratio: number;
      readonly perCpuRatio?: number;
    }
  | { readonly missing: string };

/** One workload case measured against rxnet, a raw `net` server and maybe a Twisted server. */
export interface Comparison {
  readonly workload: string;
  readonly case: string;
  readonly metric: string;
  /** The raw server this row compares with (a bench/servers file name without extension). */
  readonly rawServer?: string;
  readonly raw: number;
  readonly rxnet: number;
  /** rxnet / raw. */
  readonly ratio: number;
  /** Absent on an informational row (the fan-out workload's comparison with the per-line server). */
  readonly target?: Target;
  readonly met?: boolean;
  /** Further figures for the workload's detail table. */
  readonly details: Readonly<Record<string, Figures>>;
  readonly twisted?: TwistedFigure;
  /**
   * The load generator's CPU (1 = one core) in the busiest kept round of any server in the row:
   * near 1, the generator rather than the server may set the pace.
   */
  readonly loadgenCpu?: number;
  /**
   * The metric per second of server CPU, and its rxnet/raw ratio. On a machine shared with other
   * work, a server gets whatever CPU is left, so throughput ratios swing from run to run; work done
   * per CPU-second does not depend on how much CPU the server was given.
   */
  readonly perCpu?: { readonly raw: number; readonly rxnet: number; readonly ratio: number };
  readonly note?: string;
}

/** What {@link compare} takes besides the headline figures; every field is optional. */
export interface CompareExtra {
  /** Metric per server CPU-second, as [raw, rxnet]. */
  readonly perCpu?: readonly [number, number];
  readonly note?: string;
  readonly rawServer?: string;
  readonly twisted?: TwistedFigure;
  readonly loadgenCpu?: number;
}

export function compare(
  workload: string,
  caseName: string,
  metric: string,
  raw: number,
  rxnet: number,
  target: Target | undefined,
  details: Record<string, Figures> = {},
  extra: CompareExtra = {},
): Comparison {
  const ratio = rxnet / raw;
  const measured = target?.absolute === true ? rxnet : ratio;
  const met =
    target === undefined
      ? undefined
      : target.op === '>='
        ? measured >= target.value
        : measured <= target.value;
  const perCpu =
    extra.perCpu === undefined
      ? undefined
      : { raw: extra.perCpu[0], rxnet: extra.perCpu[1], ratio: extra.perCpu[1] / extra.perCpu[0] };
  return {
    workload,
    case: caseName,
    metric,
    ...(extra.rawServer === undefined ? {} : { rawServer: extra.rawServer }),
    raw,
    rxnet,
    ratio,
    ...(target === undefined ? {} : { target }),
    ...(met === undefined ? {} : { met }),
    details,
    ...(extra.twisted === undefined ? {} : { twisted: extra.twisted }),
    ...(extra.loadgenCpu === undefined ? {} : { loadgenCpu: extra.loadgenCpu }),
    ...(perCpu === undefined ? {} : { perCpu }),
    ...(extra.note === undefined ? {} : { note: extra.note }),
  };
}

/** Rows with a target, and how many of them meet it (informational rows count in neither). */
export function targetsMet(comparisons: readonly Comparison[]): { met: number; total: number } {
  const targeted = comparisons.filter((c) => c.target !== undefined);
  return { met: targeted.filter((c) => c.met === true).length, total: targeted.length };
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
  return c.met === undefined ? '–' : c.met ? 'yes' : 'NO';
}

function targetText(t: Target | undefined): string {
  if (t === undefined) return '–';
  return `${t.op === '>=' ? '≥' : '≤'} ${t.absolute === true ? `${human(t.value)} (rxnet's own figure)` : `${t.value}×`}`;
}

/** Where a target sits on the rxnet/raw axis: an absolute target divided by raw's figure. */
function targetRatio(c: Comparison): number | undefined {
  if (c.target === undefined) return undefined;
  return c.target.absolute === true ? c.target.value / c.raw : c.target.value;
}

/** Bar cells per 1.0× in {@link unicodeChart}. */
const CELLS_PER_UNIT = 10;
/** Where the text chart's bars are cut, as in the SVG. */
const TEXT_AXIS_MAX = 2;

/**
 * The rxnet/raw ratio of every case as a bar of block characters, for reading in a terminal or
 * any Markdown viewer: one cell per 0.1×, a `│` at 1.0× (a longer bar passes through it as `┼`),
 * bars beyond 2× cut with `»`, and ✅/❌ for a target met or missed (`·` for no target).
 */
export function unicodeChart(comparisons: readonly Comparison[]): string {
  const labels = comparisons.map((c) => `${c.workload}: ${c.case}`);
  const width = Math.max(...labels.map((l) => l.length));
  const one = CELLS_PER_UNIT;
  const cells = TEXT_AXIS_MAX * CELLS_PER_UNIT;
  return comparisons
    .map((c, i) => {
      const value = Number.isFinite(c.ratio) ? c.ratio : 0;
      const filled = Math.min(cells, Math.round(value * CELLS_PER_UNIT));
      let bar = '';
      for (let cell = 0; cell < cells; cell += 1) {
        if (cell === one) bar += cell < filled ? '┼' : '│';
        else bar += cell < filled ? '█' : ' ';
      }
      const cut = value > TEXT_AXIS_MAX ? '»' : ' ';
      const markText = c.met === undefined ? '·' : c.met ? '✅' : '❌';
      const goal = targetRatio(c);
      const goalText =
        goal === undefined
          ? ''
          : ` (target ${c.target!.op === '>=' ? '≥' : '≤'} ${goal.toFixed(2)}×)`;
      return `${labels[i]!.padEnd(width)} ${bar}${cut} ${value.toFixed(2).padStart(6)}× ${markText}${goalText}`;
    })
    .join('\n');
}

function ratioText(ratio: number | undefined): string {
  return ratio === undefined || !Number.isFinite(ratio) ? '–' : ratio.toFixed(2);
}

/** The three Twisted cells of a row: its figure (or "not run: …"), rxnet/Twisted, and per CPU-s. */
function twistedCells(c: Comparison): [string, string, string] {
  if (c.twisted === undefined) return ['', '', ''];
  if ('missing' in c.twisted) return ['not run', '–', '–'];
  return [human(c.twisted.value), ratioText(c.twisted.ratio), ratioText(c.twisted.perCpuRatio)];
}

function loadgenText(c: Comparison): string {
  return c.loadgenCpu === undefined ? '' : String(Math.round(c.loadgenCpu * 100));
}

/** A fixed-width table for a terminal, then the baselines and why any Twisted cell is empty. */
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
    'Twisted',
    'rxnet/Twisted',
    'per CPU-s',
    'loadgen CPU %',
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
    c.perCpu === undefined ? '' : ratioText(c.perCpu.ratio),
    ...twistedCells(c),
    loadgenText(c),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const numeric = new Set([3, 4, 5, 8, 9, 10, 11, 12]);
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * One line per workload naming the server behind each column (from `describe`, keyed by server
 * name), then why Twisted did not run, if it did not. Plain text; Markdown code spans are kept.
 */
export function baselineLegend(
  comparisons: readonly Comparison[],
  describe: Readonly<Record<string, string>>,
): string[] {
  const named = (server: string, ext: string): string =>
    `${server}${ext}${describe[server] === undefined ? '' : ` (${describe[server]})`}`;
  const lines: string[] = [];
  for (const workload of [...new Set(comparisons.map((c) => c.workload))]) {
    const rows = comparisons.filter((c) => c.workload === workload);
    const raws = [
      ...new Set(rows.flatMap((c) => (c.rawServer === undefined ? [] : [c.rawServer]))),
    ];
    const twisted = [
      ...new Set(
        rows.flatMap((c) =>
          c.twisted !== undefined && 'server' in c.twisted ? [c.twisted.server] : [],
        ),
      ),
    ];
    // Two raw servers are headline and informational only where some row has no target (fan-out).
    const informational = rows.some((c) => c.target === undefined);
    const parts = [
      ...raws.map((server, i) =>
        raws.length === 1 || !informational
          ? `raw = ${named(server, '.ts')}`
          : `raw (${i === 0 ? 'headline, rows with a target' : 'informational rows'}) = ${named(server, '.ts')}`,
      ),
      ...twisted.map((server) => `Twisted = ${named(server, '.py')}`),
    ];
    if (parts.length > 0) lines.push(`${workload}: ${parts.join('; ')}`);
  }
  const missing = [
    ...new Set(
      comparisons.flatMap((c) =>
        c.twisted !== undefined && 'missing' in c.twisted ? [c.twisted.missing] : [],
      ),
    ),
  ];
  for (const reason of missing) lines.push(`Twisted column not run: ${reason}`);
  return lines;
}

function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: ReadonlySet<number>,
): string {
  const align = header.map((_, i) => (rightAligned.has(i) ? '---:' : '---'));
  return [header, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/**
 * The summary table: one row per case, with the ratio to raw and whether it meets its target,
 * then the Twisted column and the load generator's CPU.
 */
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
      'Twisted',
      'rxnet/Twisted',
      'rxnet/Twisted per server CPU-s',
      'loadgen CPU %',
    ],
    comparisons.map((c) => [
      c.workload,
      caseText(c),
      c.metric,
      human(c.raw),
      human(c.rxnet),
      `**${c.ratio.toFixed(2)}**`,
      targetText(c.target),
      c.met === undefined ? '–' : c.met ? '✅' : '❌',
      c.perCpu === undefined ? '' : c.perCpu.ratio.toFixed(2),
      ...twistedCells(c),
      loadgenText(c),
    ]),
    new Set([3, 4, 5, 8, 9, 10, 11, 12]),
  );
}

/** One detail table per workload, with every figure side by side. */
export function markdownDetails(comparisons: readonly Comparison[]): string {
  const sections: string[] = [];
  for (const workload of [...new Set(comparisons.map((c) => c.workload))]) {
    const rows = comparisons.filter((c) => c.workload === workload);
    const keys = [...new Set(rows.flatMap((c) => Object.keys(c.details)))];
    // A Twisted column per figure only in workloads where some row has Twisted figures.
    const withTwisted = rows.some((c) => Object.values(c.details).some((f) => f.length > 2));
    const sides = withTwisted ? ['raw', 'rxnet', 'Twisted'] : ['raw', 'rxnet'];
    const twistedValue = (c: Comparison): number =>
      c.twisted !== undefined && 'value' in c.twisted ? c.twisted.value : Number.NaN;
    const header = [
      'Case',
      ...sides.map((side) => `${rows[0]!.metric} ${side}`),
      ...keys.flatMap((k) => sides.map((side) => `${k} ${side}`)),
    ];
    const body = rows.map((c) => [
      caseText(c),
      human(c.raw),
      human(c.rxnet),
      ...(withTwisted ? [human(twistedValue(c))] : []),
      ...keys.flatMap((k) => sides.map((_, i) => human(c.details[k]?.[i] ?? Number.NaN))),
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
    `<text x="10" y="36" fill="#555555">rxnet ÷ raw net, one run. Throughput: higher is better (target ≥ tick). Memory: lower is better (target ≤ tick). Grey: no target.</text>`,
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
    // Grey for an informational row, which has no target.
    const fill = c.met === undefined ? '#9e9e9e' : c.met ? '#4caf50' : '#e53935';
    parts.push(
      `<rect x="${labelWidth}" y="${y + 4}" width="${Math.max(0, x(ratio) - labelWidth)}" height="${rowHeight - 8}" fill="${fill}"/>`,
    );
    if (value > AXIS_MAX) {
      // A cut bar: two white chevrons near its end.
      parts.push(
        `<path d="M${x(ratio) - 14} ${y + 4} l6 7 l-6 7 M${x(ratio) - 8} ${y + 4} l6 7 l-6 7" stroke="#ffffff" stroke-width="2" fill="none"/>`,
      );
    }
    const goal = targetRatio(c);
    if (goal !== undefined && goal <= AXIS_MAX) {
      const tx = x(goal);
      parts.push(
        `<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + rowHeight - 1}" stroke="#000000" stroke-width="2"/>`,
      );
    }
    parts.push(`<text x="${x(ratio) + 6}" y="${y + 15}">${value.toFixed(2)}×</text>`);
  });
  parts.push(
    `<text x="${labelWidth + plotWidth / 2}" y="${height - 6}" text-anchor="middle" fill="#555555">rxnet / raw</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
