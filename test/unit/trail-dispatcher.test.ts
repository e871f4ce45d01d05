// The local stand-in for EventBridge's CloudTrail rules: it hands each new trail record that
// matches a rule to that rule once, in EventBridge's envelope, whole lines only, and remembers
// what it read across a restart.
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KEY_POLICY_WRITE_PATTERN } from '../../contract/key-policy-events.js';
import { matchesPattern, startTrailDispatcher, type TrailEvent } from '../../local/trail-dispatcher.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function record(eventName: string, eventID: string): string {
  return `${JSON.stringify({ eventID, eventName, eventSource: 'kms.amazonaws.com', eventTime: '2026-11-30T10:00:00Z', requestParameters: { keyId: 'k' } })}\n`;
}

function dispatcher(dir: string, seen: TrailEvent[]) {
  return startTrailDispatcher({
    trailDir: dir,
    stateFile: join(dir, 'dispatch.json'),
    account: '111122223333',
    region: 'eu-west-1',
    rules: [{ name: 'key-policies', pattern: KEY_POLICY_WRITE_PATTERN, deliver: (event) => seen.push(event) }],
    intervalMs: 60_000,
  });
}

describe('the trail dispatcher', () => {
  it('hands a rule only the records its pattern matches, in EventBridge\'s envelope', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-dispatch-'));
    dirs.push(dir);
    const seen: TrailEvent[] = [];
    const file = join(dir, '111122223333_CloudTrail_eu-west-1_20261130.jsonl');
    appendFileSync(file, record('Decrypt', 'a') + record('PutKeyPolicy', 'b'));

    const d = dispatcher(dir, seen);
    d.dispatchNow();
    await d.close();

    expect(seen.map((e) => e.id)).toEqual(['b']);
    expect(seen[0]).toMatchObject({ source: 'aws.kms', 'detail-type': 'AWS API Call via CloudTrail', account: '111122223333', region: 'eu-west-1', detail: { eventName: 'PutKeyPolicy' } });
  });

  it('waits for a line to be whole, and never hands a record twice, across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-dispatch-'));
    dirs.push(dir);
    const seen: TrailEvent[] = [];
    const file = join(dir, '111122223333_CloudTrail_eu-west-1_20261130.jsonl');
    const second = record('PutKeyPolicy', 'd');
    appendFileSync(file, record('PutKeyPolicy', 'c') + second.slice(0, 20));

    const first = dispatcher(dir, seen);
    first.dispatchNow();
    await first.close();
    appendFileSync(file, second.slice(20));
    const restarted = dispatcher(dir, seen);
    restarted.dispatchNow();
    restarted.dispatchNow();
    await restarted.close();

    expect(seen.map((e) => e.id)).toEqual(['c', 'd']);
  });

  it('matches lists of exact values, nested, as EventBridge does', () => {
    expect(matchesPattern({ a: 'x', b: { c: 'y' } }, { a: ['x', 'z'], b: { c: ['y'] } })).toBe(true);
    expect(matchesPattern({ a: 'x', b: { c: 'q' } }, { a: ['x'], b: { c: ['y'] } })).toBe(false);
    expect(matchesPattern({ a: 'x' }, { b: ['x'] })).toBe(false);
  });
});
