// How the audit prints: aligned text tables for people, JSON for machines, and a progress line on
// stderr only when it is a terminal (so pipes and CI logs stay clean).

export function table<T extends object>(rows: readonly T[], columns: readonly string[]): string {
  const cell = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));
  const get = (r: T, c: string): unknown => (r as Record<string, unknown>)[c];
  const widths = columns.map((c) => Math.min(80, Math.max(c.length, ...rows.map((r) => cell(get(r, c)).length))));
  const line = (values: string[]) => values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(get(r, c)))))].join('\n');
}

export class Progress {
  private last = 0;
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  /** At most ten updates a second, and none when stderr is not a terminal. */
  update(text: string): void {
    if (!this.stream.isTTY) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    this.stream.write(`\r\x1b[2K${text}`);
  }

  done(): void {
    if (this.stream.isTTY && this.last !== 0) this.stream.write('\r\x1b[2K');
  }
}
