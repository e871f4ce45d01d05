// Small statistics and a plain-text table for bench:ingest: medians, percentiles, and columns
// aligned for a terminal, so each part prints something a person can read at a glance.

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest rank: p99 of 100 samples is the 99th smallest, never an interpolation.
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Named series of samples, filled as a benchmark runs. */
export class Samples {
  private readonly series = new Map<string, number[]>();

  add(name: string, value: number): void {
    let list = this.series.get(name);
    if (list === undefined) {
      list = [];
      this.series.set(name, list);
    }
    list.push(value);
  }

  of(name: string): readonly number[] {
    return this.series.get(name) ?? [];
  }

  median(name: string): number {
    return median(this.of(name));
  }

  percentile(name: string, p: number): number {
    return percentile(this.of(name), p);
  }
}

/** `1.23` for milliseconds; fewer decimals as numbers grow. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

export function mibPerSecond(bytes: number, milliseconds: number): string {
  return `${(bytes / 1_048_576 / (milliseconds / 1000)).toFixed(0)} MiB/s`;
}

/** A left-aligned first column and right-aligned others, with a rule under the header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}
