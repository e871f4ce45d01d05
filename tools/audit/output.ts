// How the audit prints: aligned text tables for people, JSON for machines, and a progress line on
// stderr only when it is a terminal (so pipes and CI logs stay clean).

/**
 * Control characters (C0, DEL, C1), line and paragraph separators, and bidirectional overrides,
 * shown as `\u{..}`. Cells carry text anyone can put in a trail record: the encryption context of a
 * denied KMS call is recorded as sent, so a newline in it forged a ledger row in `audit employee`,
 * and an escape sequence could repaint the analyst's terminal.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
}

export function table<T extends object>(rows: readonly T[], columns: readonly string[]): string {
  const cell = (v: unknown): string => printable(v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));
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
