// The POST /v1/events body: shapes, bounds, the time window, hostile keys and error details.
import { describe, expect, it } from 'vitest';
import {
  groupByScope,
  MAX_APP_CHARS,
  MAX_BODY_BYTES,
  MAX_EVENTS,
  MAX_TEXT_CHARS,
  MAX_TITLE_CHARS,
  parseBatch,
  type CaptureEvent,
  type ParseBatchResult,
} from '../../lambdas/ingest/schemas.js';

const NOW = new Date('2026-11-26T12:00:00.000Z');
const NOW_MS = NOW.getTime();
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

const keystroke = (extra: Record<string, unknown> = {}) => ({ kind: 'keystroke', ts: NOW_MS, text: 'hello', ...extra });
const click = (extra: Record<string, unknown> = {}) => ({ kind: 'click', ts: NOW_MS, x: 10, y: 20, button: 'left', ...extra });
const appFocus = (extra: Record<string, unknown> = {}) => ({ kind: 'app-focus', ts: NOW_MS, app: 'Code', ...extra });
const body = (events: unknown[], extra: Record<string, unknown> = {}) => ({ batchId: 'b-1', deviceId: 'd_1', events, ...extra });

function details(result: ParseBatchResult) {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.batch)}`);
  return result.details;
}
function batch(result: ParseBatchResult) {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result.details)}`);
  return result.batch;
}
const paths = (result: ParseBatchResult) => details(result).map((d) => d.path);

describe('limits', () => {
  it('exports the contract limits', () => {
    expect({ MAX_EVENTS, MAX_BODY_BYTES, MAX_TEXT_CHARS, MAX_APP_CHARS, MAX_TITLE_CHARS }).toEqual({
      MAX_EVENTS: 5_000,
      MAX_BODY_BYTES: 1_048_576,
      MAX_TEXT_CHARS: 4_096,
      MAX_APP_CHARS: 256,
      MAX_TITLE_CHARS: 1_024,
    });
  });
});

describe('valid batches', () => {
  it('accepts a keystroke with only the required fields', () => {
    expect(batch(parseBatch(body([keystroke()]), NOW))).toEqual(body([keystroke()]));
  });

  it('accepts a keystroke with app and secureField', () => {
    const event = keystroke({ app: 'Terminal', secureField: true });

    expect(batch(parseBatch(body([event]), NOW)).events).toEqual([event]);
  });

  it('accepts a click with every button and an app', () => {
    const events = ['left', 'right', 'middle', 'other'].map((button) => click({ button, app: 'Finder' }));

    expect(batch(parseBatch(body(events), NOW)).events).toEqual(events);
  });

  it('accepts an app-focus with and without a title, including an empty title', () => {
    const events = [appFocus(), appFocus({ title: 'README.md - consent-capture' }), appFocus({ title: '' })];

    expect(batch(parseBatch(body(events), NOW)).events).toEqual(events);
  });

  it('accepts a mixed batch and keeps the order', () => {
    const events = [click(), keystroke(), appFocus(), keystroke({ text: 'again' })];

    expect(batch(parseBatch(body(events), NOW)).events.map((e) => e.kind)).toEqual(['click', 'keystroke', 'app-focus', 'keystroke']);
  });

  it('accepts emoji, RTL and zero-width characters in text', () => {
    const text = '👍🏽 \u202Eabc\u202C \u200Bשלום\u200D';

    expect(batch(parseBatch(body([keystroke({ text })]), NOW)).events[0]).toMatchObject({ text });
  });

  it('returns fresh objects, not the input', () => {
    const input = body([keystroke()]);

    const parsed = batch(parseBatch(input, NOW));

    expect(parsed).not.toBe(input);
    expect(parsed.events[0]).not.toBe(input.events[0]);
  });
});

describe('ts', () => {
  const tsOf = (ts: unknown) => parseBatch(body([keystroke({ ts })]), NOW);

  it('keeps epoch milliseconds as they are', () => {
    expect(batch(tsOf(NOW_MS - 1234)).events[0]?.ts).toBe(NOW_MS - 1234);
  });

  it('normalises an ISO-8601 string in UTC to epoch milliseconds', () => {
    expect(batch(tsOf('2026-11-26T11:59:58.500Z')).events[0]?.ts).toBe(NOW_MS - 1500);
  });

  it('normalises an ISO-8601 string with an offset to the same instant', () => {
    expect(batch(tsOf('2026-11-26T17:30:00+05:30')).events[0]?.ts).toBe(NOW_MS);
    expect(batch(tsOf('2026-11-26T07:00:00-05:00')).events[0]?.ts).toBe(NOW_MS);
  });

  it('truncates sub-millisecond fractions', () => {
    expect(batch(tsOf('2026-11-26T11:59:59.999999999Z')).events[0]?.ts).toBe(NOW_MS - 1);
  });

  it.each([
    ['exactly 7 days ago (epoch)', NOW_MS - 7 * DAY],
    ['exactly 7 days ago (ISO)', new Date(NOW_MS - 7 * DAY).toISOString()],
    ['exactly 5 minutes ahead (epoch)', NOW_MS + 5 * MINUTE],
    ['exactly 5 minutes ahead (ISO with offset)', '2026-11-26T13:05:00+01:00'],
  ])('accepts %s', (_name, ts) => {
    expect(tsOf(ts).ok).toBe(true);
  });

  it.each([
    ['1 ms more than 7 days ago', NOW_MS - 7 * DAY - 1, 'more than 7 days in the past'],
    ['1 ms more than 5 minutes ahead', NOW_MS + 5 * MINUTE + 1, 'more than 5 minutes in the future'],
    ['1 ms more than 7 days ago (ISO)', new Date(NOW_MS - 7 * DAY - 1).toISOString(), 'more than 7 days in the past'],
    ['1 s more than 5 minutes ahead (ISO)', '2026-11-26T12:05:01Z', 'more than 5 minutes in the future'],
    ['zero (1970)', 0, 'more than 7 days in the past'],
  ])('refuses %s at events.0.ts', (_name, ts, message) => {
    expect(details(tsOf(ts))).toEqual([{ path: 'events.0.ts', message: expect.stringContaining(message) }]);
  });

  it.each([
    ['an ISO string without an offset', '2026-11-26T12:00:00'],
    ['a date only', '2026-11-26'],
    ['a space instead of T', '2026-11-26 12:00:00Z'],
    ['an impossible date', '2026-02-30T12:00:00Z'],
    ['hour 24', '2026-11-26T24:00:00Z'],
    ['a compact offset', '2026-11-26T12:00:00+0530'],
    ['a fractional epoch', NOW_MS + 0.5],
    ['an epoch in seconds as a string', String(Math.floor(NOW_MS / 1000))],
    ['an unsafe integer', 2 ** 60],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a boolean', true],
    ['null', null],
    ['an object', { $date: NOW_MS }],
    ['an empty string', ''],
  ])('refuses %s with one clear message', (_name, ts) => {
    expect(details(tsOf(ts))).toEqual([{ path: 'events.0.ts', message: expect.stringContaining('ISO-8601') }]);
  });

  it('refuses a missing ts', () => {
    const { ts: _ts, ...event } = keystroke();

    expect(paths(parseBatch(body([event]), NOW))).toEqual(['events.0.ts']);
  });

  it('throws on an invalid now, which is a caller bug', () => {
    expect(() => parseBatch(body([keystroke()]), new Date(Number.NaN))).toThrow(RangeError);
  });
});

describe('bounds', () => {
  const one = (event: unknown) => parseBatch(body([event]), NOW);

  it.each([
    ['text of 4,096 chars', keystroke({ text: 'x'.repeat(4096) })],
    ['app of 256 chars', keystroke({ app: 'a'.repeat(256) })],
    ['title of 1,024 chars', appFocus({ title: 't'.repeat(1024) })],
    ['app-focus app of 256 chars', appFocus({ app: 'a'.repeat(256) })],
    ['x and y at +100,000', click({ x: 100_000, y: 100_000 })],
    ['x and y at -100,000', click({ x: -100_000, y: -100_000 })],
    ['x and y at 0', click({ x: 0, y: -0 })],
  ])('accepts %s', (_name, event) => {
    expect(one(event).ok).toBe(true);
  });

  it.each([
    ['text of 4,097 chars', keystroke({ text: 'x'.repeat(4097) }), 'events.0.text'],
    ['an empty text', keystroke({ text: '' }), 'events.0.text'],
    ['app of 257 chars', keystroke({ app: 'a'.repeat(257) }), 'events.0.app'],
    ['an empty app', click({ app: '' }), 'events.0.app'],
    ['title of 1,025 chars', appFocus({ title: 't'.repeat(1025) }), 'events.0.title'],
    ['app-focus without app', { kind: 'app-focus', ts: NOW_MS }, 'events.0.app'],
    ['x of 100,001', click({ x: 100_001 }), 'events.0.x'],
    ['y of -100,001', click({ y: -100_001 }), 'events.0.y'],
    ['a fractional x', click({ x: 1.5 }), 'events.0.x'],
    ['an infinite y', click({ y: Number.POSITIVE_INFINITY }), 'events.0.y'],
    ['a NaN x', click({ x: Number.NaN }), 'events.0.x'],
    ['x as a string', click({ x: '10' }), 'events.0.x'],
    ['an unknown button', click({ button: 'back' }), 'events.0.button'],
    ['a button in upper case', click({ button: 'LEFT' }), 'events.0.button'],
    ['secureField as a string', keystroke({ secureField: 'true' }), 'events.0.secureField'],
    ['a lone high surrogate in text', keystroke({ text: 'ab\uD800c' }), 'events.0.text'],
    ['a lone low surrogate in a title', appFocus({ title: '\uDC00' }), 'events.0.title'],
    ['a reversed surrogate pair in app', appFocus({ app: '\uDE00\uD83D' }), 'events.0.app'],
    ['text as an array', keystroke({ text: ['h', 'i'] }), 'events.0.text'],
  ])('refuses %s', (_name, event, path) => {
    expect(paths(one(event))).toEqual([path]);
  });

  it.each([
    ['batchId of 64 chars', { batchId: 'b'.repeat(64) }],
    ['ids with dash and underscore', { batchId: 'A-z_0', deviceId: '_-' }],
  ])('accepts %s', (_name, extra) => {
    expect(parseBatch(body([keystroke()], extra), NOW).ok).toBe(true);
  });

  it.each([
    ['batchId of 65 chars', { batchId: 'b'.repeat(65) }, 'batchId'],
    ['an empty batchId', { batchId: '' }, 'batchId'],
    ['a batchId with a slash', { batchId: 'a/b' }, 'batchId'],
    ['a batchId with a zero-width space', { batchId: 'ab\u200B' }, 'batchId'],
    ['a deviceId with an RTL override', { deviceId: '\u202Edevice' }, 'deviceId'],
    ['a deviceId with a newline at the end', { deviceId: 'device\n' }, 'deviceId'],
    ['a numeric deviceId', { deviceId: 42 }, 'deviceId'],
  ])('refuses %s', (_name, extra, path) => {
    expect(paths(parseBatch(body([keystroke()], extra), NOW))).toEqual([path]);
  });

  it('refuses a missing deviceId', () => {
    const { deviceId: _d, ...rest } = body([keystroke()]);

    expect(paths(parseBatch(rest, NOW))).toEqual(['deviceId']);
  });
});

describe('event count', () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => keystroke({ ts: NOW_MS - i }));

  it('accepts 5,000 events', () => {
    expect(batch(parseBatch(body(many(5000)), NOW)).events).toHaveLength(5000);
  });

  it('refuses 5,001 events at events', () => {
    expect(details(parseBatch(body(many(5001)), NOW))).toEqual([{ path: 'events', message: 'a batch holds 1 to 5000 events' }]);
  });

  it('refuses an empty events array', () => {
    expect(details(parseBatch(body([]), NOW))).toEqual([{ path: 'events', message: 'a batch holds 1 to 5000 events' }]);
  });

  it('refuses events that are an object, not an array', () => {
    expect(paths(parseBatch(body({ 0: keystroke() } as unknown as unknown[]), NOW))).toEqual(['events']);
  });
});

describe('kinds and keys', () => {
  it.each([['mouse-move'], ['Keystroke'], ['keystroke ' /* trailing space */], ['__proto__'], ['constructor'], ['toString'], ['']])(
    'refuses the unknown kind %j at events.0.kind',
    (kind) => {
      expect(paths(parseBatch(body([keystroke({ kind })]), NOW))).toEqual(['events.0.kind']);
    },
  );

  it('refuses an event without a kind', () => {
    const { kind: _k, ...event } = keystroke();

    expect(paths(parseBatch(body([event]), NOW))).toEqual(['events.0.kind']);
  });

  it('refuses a field of another kind (text on a click)', () => {
    expect(details(parseBatch(body([click({ text: 'x' })]), NOW))).toEqual([{ path: 'events.0', message: expect.stringContaining('"text"') }]);
  });

  it('refuses an unknown key on an event', () => {
    expect(paths(parseBatch(body([keystroke({ employeeId: 'e-42' })]), NOW))).toEqual(['events.0']);
  });

  it('refuses an unknown key on the batch, such as an employeeId (it comes from the token only)', () => {
    expect(details(parseBatch(body([keystroke()], { employeeId: 'e-42' }), NOW))).toEqual([{ path: '(body)', message: expect.stringContaining('employeeId') }]);
  });

  it.each([
    ['__proto__ on the batch', '{"batchId":"b","deviceId":"d","events":[{"kind":"click","ts":0,"x":1,"y":1,"button":"left"}],"__proto__":{"polluted":"yes"}}', '(body)'],
    ['constructor.prototype on the batch', '{"batchId":"b","deviceId":"d","events":[],"constructor":{"prototype":{"polluted":"yes"}}}', '(body)'],
    ['__proto__ on an event', '{"batchId":"b","deviceId":"d","events":[{"kind":"keystroke","ts":TS,"text":"x","__proto__":{"polluted":"yes"}}]}', 'events.0'],
    ['prototype on an event', '{"batchId":"b","deviceId":"d","events":[{"kind":"app-focus","ts":TS,"app":"a","prototype":{"polluted":"yes"}}]}', 'events.0'],
  ])('refuses %s from JSON.parse and pollutes nothing', (_name, json, path) => {
    const parsed: unknown = JSON.parse(json.replaceAll('TS', String(NOW_MS)));

    const result = parseBatch(parsed, NOW);

    expect(paths(result)).toContain(path);
    expect(details(result).some((d) => /__proto__|constructor|prototype/.test(d.message))).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('accepts an object with a null prototype', () => {
    const event = Object.assign(Object.create(null) as object, keystroke());

    expect(parseBatch(body([event]), NOW).ok).toBe(true);
  });
});

describe('details', () => {
  it('names the failing event by index, like events.12.ts', () => {
    const events: unknown[] = Array.from({ length: 13 }, () => keystroke());
    events[12] = keystroke({ ts: 'yesterday' });

    expect(paths(parseBatch(body(events), NOW))).toEqual(['events.12.ts']);
  });

  it('names (body) when the body is not an object', () => {
    for (const json of [null, [], 'batch', 42, true, undefined]) {
      expect(paths(parseBatch(json, NOW))).toEqual(['(body)']);
    }
  });

  it('refuses an array of batches', () => {
    expect(paths(parseBatch([body([keystroke()])], NOW))).toEqual(['(body)']);
  });

  it('reports every fault of one event', () => {
    expect(paths(parseBatch(body([click({ x: 'a', y: 1.5, button: 'none' })]), NOW))).toEqual(['events.0.x', 'events.0.y', 'events.0.button']);
  });

  it('caps details at 20 for shape faults', () => {
    const events = Array.from({ length: 30 }, () => keystroke({ text: 42 }));

    expect(details(parseBatch(body(events), NOW))).toHaveLength(20);
  });

  it('caps details at 20 for window faults', () => {
    const events = Array.from({ length: 30 }, () => keystroke({ ts: 0 }));

    const found = details(parseBatch(body(events), NOW));

    expect(found).toHaveLength(20);
    expect(found[19]?.path).toBe('events.19.ts');
  });

  it('reports shape faults before window faults', () => {
    expect(paths(parseBatch(body([keystroke({ ts: 0 }), keystroke({ text: 1 })]), NOW))).toEqual(['events.1.text']);
  });
});

describe('groupByScope', () => {
  const parsed = (events: unknown[]) => batch(parseBatch(body(events), NOW)).events;

  it('groups events by the scope of their kind, in scope order', () => {
    const events = parsed([appFocus(), click(), keystroke(), click({ x: 2 })]);

    const groups = groupByScope(events);

    expect([...groups.keys()]).toEqual(['keystrokes', 'clicks', 'app-focus']);
    expect(groups.get('clicks')?.map((e) => (e.kind === 'click' ? e.x : undefined))).toEqual([10, 2]);
    expect(groups.get('keystrokes')).toHaveLength(1);
    expect(groups.get('app-focus')).toHaveLength(1);
  });

  it('leaves out scopes without events', () => {
    expect([...groupByScope(parsed([click()])).keys()]).toEqual(['clicks']);
  });

  it('returns an empty map for no events', () => {
    expect(groupByScope([] as CaptureEvent[]).size).toBe(0);
  });

  it('keeps the very event objects', () => {
    const events = parsed([keystroke()]);

    expect(groupByScope(events).get('keystrokes')?.[0]).toBe(events[0]);
  });
});
