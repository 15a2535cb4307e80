// What every bench section reports into: the table rows, notes and raw figures that run.ts prints
// and writes to bench/results/latest.json, and the number formatting they share.

export interface Row {
  section: string;
  name: string;
  value: string;
  baseline: string;
  ratio?: number;
  goal?: string;
  pass?: boolean;
  spread?: string;
}

export const rows: Row[] = [];
export const raw: Record<string, unknown> = {};
export const notes: string[] = [];

export const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
export const spread = (xs: number[]): string => `${fmt(Math.min(...xs), 2)}–${fmt(Math.max(...xs), 2)}`;

/** Percentile p (0..100) of xs, nearest rank. */
export function percentile(xs: ArrayLike<number>, p: number): number {
  const s = Float64Array.from(xs).sort();
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function printTable(): void {
  const head = ['section', 'measurement', 'value (median)', 'baseline (same run)', 'ratio', 'goal', '', 'rounds / spread'];
  const body = rows.map((r) => [
    r.section, r.name, r.value, r.baseline, r.ratio === undefined ? '' : `${fmt(r.ratio, 2)}×`, r.goal ?? '',
    r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL', r.spread ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const b of body) console.log(line(b));
  for (const n of notes) console.log(`note: ${n}`);
}
