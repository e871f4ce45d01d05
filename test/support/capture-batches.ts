// Builds valid capture batches for tests and benchmarks: realistic text, clicks and focus changes
// with timestamps near `now`, and an optional marker planted in every text field.
import { randomUUID } from 'node:crypto';

export interface BatchOptions {
  readonly batchId?: string;
  readonly deviceId?: string;
  readonly now?: Date;
  /** Events per kind. @default 2 */
  readonly perKind?: number;
  readonly kinds?: readonly CaptureKind[];
  /** A string planted in every `text` and `title`, to look for later. */
  readonly marker?: string;
  /**
   * The `ts` of the n-th event of a kind, in epoch ms. @default - the last `perKind` milliseconds
   * before `now`: consent is judged at event time, so a batch built right after a grant must not
   * predate it by more than the grant's own processing time.
   */
  readonly tsOf?: (kind: CaptureKind, n: number, now: number) => number;
}

export type CaptureKind = 'keystroke' | 'click' | 'app-focus';

export function newBatchId(): string {
  return `b-${randomUUID()}`;
}

export function captureBatch(options: BatchOptions = {}): { batchId: string; deviceId: string; events: Record<string, unknown>[] } {
  const now = (options.now ?? new Date()).getTime();
  const perKind = options.perKind ?? 2;
  const marker = options.marker === undefined ? '' : ` ${options.marker}`;
  const events: Record<string, unknown>[] = [];
  for (const kind of options.kinds ?? ['keystroke', 'click', 'app-focus']) {
    for (let n = 0; n < perKind; n += 1) {
      const ts = options.tsOf?.(kind, n, now) ?? now - (perKind - n);
      if (kind === 'keystroke') events.push({ kind, ts, text: `draft of the quarterly plan, line ${n}${marker}`, app: 'editor' });
      if (kind === 'click') events.push({ kind, ts, x: 100 + n, y: 200 + n, button: 'left', app: 'browser' });
      if (kind === 'app-focus') events.push({ kind, ts: new Date(ts).toISOString(), app: 'mail', title: `Inbox (${n})${marker}` });
    }
  }
  return { batchId: options.batchId ?? newBatchId(), deviceId: options.deviceId ?? 'laptop-1', events };
}
