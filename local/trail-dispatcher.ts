// The local stand-in for EventBridge's "AWS API Call via CloudTrail" rules: tails the local KMS's
// trail files (local/kms/trail.ts writes them), wraps each new record in EventBridge's envelope and
// hands those that match a rule's pattern to its target (a local queue). The offsets it has read
// are kept in a file, so a restarted stack neither loses nor repeats a record.
import { existsSync, openSync, closeSync, readdirSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLOUDTRAIL_DETAIL_TYPE } from '../contract/key-policy-events.js';

/** The subset of EventBridge's pattern language the local rules use: lists of exact values, nested. */
export interface EventPatternLike {
  readonly source?: readonly string[];
  readonly detailType?: readonly string[];
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface LocalRule {
  readonly name: string;
  readonly pattern: EventPatternLike;
  /** The target: receives the event as EventBridge would send it. */
  deliver(event: TrailEvent): void;
}

/** EventBridge's envelope around a CloudTrail record. */
export interface TrailEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': typeof CLOUDTRAIL_DETAIL_TYPE;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface TrailDispatcherOptions {
  readonly trailDir: string;
  /** Where the read offsets are kept, e.g. `.local/trail-dispatch.json`. */
  readonly stateFile: string;
  readonly account: string;
  readonly region: string;
  readonly rules: readonly LocalRule[];
  /** How often the trail is read. @default 100 */
  readonly intervalMs?: number;
  /** One line per record a rule could not take (ids only). @default - none */
  readonly onNote?: (line: string) => void;
}

export interface TrailDispatcher {
  /** Reads and dispatches every record written so far. */
  dispatchNow(): void;
  close(): Promise<void>;
}

/** Whether `value` matches `pattern` the way EventBridge matches lists of exact values: every key, one of its values. */
export function matchesPattern(value: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) return pattern.some((candidate) => candidate === value);
  if (pattern === null || typeof pattern !== 'object') return false;
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(pattern).every(([key, inner]) => matchesPattern((value as Record<string, unknown>)[key], inner));
}

function matchesRule(event: TrailEvent, pattern: EventPatternLike): boolean {
  const { detailType, ...rest } = pattern;
  return matchesPattern({ ...event, detailType: event['detail-type'] }, { ...rest, ...(detailType === undefined ? {} : { detailType }) });
}

/** `kms.amazonaws.com` → `aws.kms`, as EventBridge names a CloudTrail event's source. */
function sourceOf(eventSource: unknown): string {
  return typeof eventSource === 'string' ? `aws.${eventSource.split('.')[0] ?? ''}` : 'aws.unknown';
}

export function startTrailDispatcher(options: TrailDispatcherOptions): TrailDispatcher {
  const note = options.onNote ?? (() => undefined);
  const offsets: Record<string, number> = existsSync(options.stateFile) ? (JSON.parse(readFileSync(options.stateFile, 'utf8')) as Record<string, number>) : {};

  const save = (): void => {
    const tmp = `${options.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(offsets), { mode: 0o600 });
    renameSync(tmp, options.stateFile);
  };

  const dispatch = (line: string): void => {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      note('trail-dispatcher: skipped a trail line that is not JSON');
      return;
    }
    const event: TrailEvent = {
      version: '0',
      id: String(record['eventID'] ?? ''),
      'detail-type': CLOUDTRAIL_DETAIL_TYPE,
      source: sourceOf(record['eventSource']),
      account: options.account,
      time: String(record['eventTime'] ?? ''),
      region: options.region,
      resources: [],
      detail: record,
    };
    for (const rule of options.rules) {
      if (!matchesRule(event, rule.pattern)) continue;
      try {
        rule.deliver(event);
      } catch (error) {
        note(`trail-dispatcher: rule ${rule.name} could not take event ${event.id}: ${error instanceof Error ? error.name : 'error'}`);
      }
    }
  };

  const dispatchNow = (): void => {
    if (!existsSync(options.trailDir)) return;
    let moved = false;
    for (const name of readdirSync(options.trailDir).filter((f) => f.endsWith('.jsonl')).sort()) {
      const file = join(options.trailDir, name);
      const from = offsets[name] ?? 0;
      const size = statSync(file).size;
      if (size <= from) continue;
      const buffer = Buffer.alloc(size - from);
      const fd = openSync(file, 'r');
      try {
        readSync(fd, buffer, 0, buffer.length, from);
      } finally {
        closeSync(fd);
      }
      // Only whole lines: the writer may be in the middle of one.
      const end = buffer.lastIndexOf(0x0a);
      if (end < 0) continue;
      for (const line of buffer.subarray(0, end).toString('utf8').split('\n')) if (line !== '') dispatch(line);
      offsets[name] = from + end + 1;
      moved = true;
    }
    if (moved) save();
  };

  const timer = setInterval(dispatchNow, options.intervalMs ?? 100);
  timer.unref();
  return {
    dispatchNow,
    close() {
      clearInterval(timer);
      dispatchNow();
      return Promise.resolve();
    },
  };
}
