// Fuzzing the POST /v1/events body: hostile and malformed bodies are refused without throwing or
// polluting prototypes, valid ones parse, and planted secrets never survive redaction.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { redactEvents } from '../../lambdas/ingest/redaction.js';
import { MAX_EVENTS, parseBatch, type ParseBatchResult } from '../../lambdas/ingest/schemas.js';
import { shortReport } from '../support/fast-check-report.js';
import { withCheckDigit } from '../support/luhn.js';
import { fastCheckSeed } from '../support/fast-check-seed.js';

const SEED = fastCheckSeed(20_261_126);
const RUNS = 2_000;
const params = (numRuns = RUNS) => ({ numRuns, seed: SEED, reporter: shortReport });

const NOW = new Date('2026-11-26T12:00:00.000Z');
const NOW_MS = NOW.getTime();
const OLDEST = NOW_MS - 7 * 24 * 60 * 60 * 1000;
const LATEST = NOW_MS + 5 * 60 * 1000;

type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Prototype pollution watch

const PROTOTYPES = [Object.prototype, Array.prototype, Function.prototype, String.prototype] as const;
const ownNames = () => PROTOTYPES.map((p) => Object.getOwnPropertyNames(p).sort().join(','));
const PRISTINE = ownNames();

function assertUnpolluted(): void {
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  expect(([] as unknown as Record<string, unknown>)['polluted']).toBeUndefined();
  expect(ownNames()).toEqual(PRISTINE);
}

afterEach(assertUnpolluted);

function assertRefused(result: ParseBatchResult): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.details.length).toBeGreaterThanOrEqual(1);
  expect(result.details.length).toBeLessThanOrEqual(20);
  for (const detail of result.details) {
    expect(typeof detail.path).toBe('string');
    expect(detail.path.length).toBeGreaterThan(0);
    expect(typeof detail.message).toBe('string');
    expect(detail.message.length).toBeGreaterThan(0);
  }
}

// ---------------------------------------------------------------------------------------------
// Valid bodies

const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const offsets = ['Z', '+00:00', '+05:30', '-08:00', '+14:00', '-12:00'] as const;

/** An instant in the window, as epoch ms or as ISO-8601 with some offset (rounded to what the offset form can show). */
const ts = fc.integer({ min: OLDEST, max: LATEST }).chain((ms) =>
  fc.oneof(
    fc.constant<number | string>(ms),
    fc.constant<number | string>(new Date(ms).toISOString()),
    fc.constantFrom(...offsets).map((offset): number | string => isoWithOffset(ms, offset)),
  ),
);

function isoWithOffset(ms: number, offset: string): string {
  if (offset === 'Z') return new Date(ms).toISOString();
  const sign = offset.startsWith('-') ? -1 : 1;
  const minutes = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  const local = new Date(ms + minutes * 60_000).toISOString().slice(0, 23);
  return `${local}${offset}`;
}

const text = (min: number, max: number) => fc.string({ unit: 'grapheme', minLength: min, maxLength: max });
const keystroke = fc.record(
  { kind: fc.constant('keystroke'), ts, text: text(1, 40), app: text(1, 20), secureField: fc.boolean() },
  { requiredKeys: ['kind', 'ts', 'text'] },
);
const click = fc.record(
  {
    kind: fc.constant('click'),
    ts,
    x: fc.integer({ min: -100_000, max: 100_000 }),
    y: fc.integer({ min: -100_000, max: 100_000 }),
    button: fc.constantFrom('left', 'right', 'middle', 'other'),
    app: text(1, 20),
  },
  { requiredKeys: ['kind', 'ts', 'x', 'y', 'button'] },
);
const appFocus = fc.record({ kind: fc.constant('app-focus'), ts, app: text(1, 20), title: text(0, 40) }, { requiredKeys: ['kind', 'ts', 'app'] });
const event = fc.oneof(keystroke, click, appFocus) as fc.Arbitrary<Json>;
const validBody = fc.record({ batchId: id, deviceId: id, events: fc.array(event, { minLength: 1, maxLength: 8 }) }) as fc.Arbitrary<Json & { events: Json[] }>;

// ---------------------------------------------------------------------------------------------
// Malformations: each one is guaranteed to make a valid body invalid.

type Mutation = (body: Json & { events: Json[] }) => unknown;

const ALLOWED: Record<string, readonly string[]> = {
  batch: ['batchId', 'deviceId', 'events'],
  keystroke: ['kind', 'ts', 'text', 'app', 'secureField'],
  click: ['kind', 'ts', 'x', 'y', 'button', 'app'],
  'app-focus': ['kind', 'ts', 'app', 'title'],
};
const REQUIRED: Record<string, readonly string[]> = {
  batch: ['batchId', 'deviceId', 'events'],
  keystroke: ['kind', 'ts', 'text'],
  click: ['kind', 'ts', 'x', 'y', 'button'],
  'app-focus': ['kind', 'ts', 'app'],
};
const STRING_FIELDS: Record<string, readonly string[]> = { keystroke: ['text', 'app'], click: ['app'], 'app-focus': ['app', 'title'] };
const kindOf = (e: Json): string => String(e['kind']);

/** Own, enumerable, as JSON.parse makes it: no setter runs, so `__proto__` stays a plain key. */
function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function nest(depth: number, leaf: unknown, asArray: boolean): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = asArray ? [value] : { a: value };
  return value;
}

const pick = <T>(items: readonly T[], n: number): T => items[n % items.length] as T;

/** Values no field accepts (secureField, the only boolean, is handled apart). */
const neverValid = fc.oneof(
  fc.constant(null),
  fc.constant(undefined).map(() => ({})),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  fc.integer({ min: 1, max: 5 }).map((d) => nest(d, 1, true)),
);

const deep = fc.tuple(fc.integer({ min: 1, max: 3_000 }), fc.boolean()).map(([depth, asArray]) => nest(depth, 'x', asArray));

const badTs = fc.oneof(
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: OLDEST - 1 }),
  fc.integer({ min: LATEST + 1, max: Number.MAX_SAFE_INTEGER }),
  fc.double({ noInteger: true }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 60, -(2 ** 60)),
  fc.integer({ min: OLDEST - 10 * 365 * 86_400_000, max: OLDEST - 1 }).map((ms) => new Date(ms).toISOString()),
  fc.integer({ min: LATEST + 1_000, max: LATEST + 365 * 86_400_000 }).map((ms) => new Date(ms).toISOString()),
  fc.integer({ min: OLDEST, max: LATEST }).map((ms) => new Date(ms).toISOString().slice(0, 19)), // no offset
  fc.integer({ min: OLDEST, max: LATEST }).map((ms) => new Date(ms).toISOString().slice(0, 10)), // date only
  fc.integer({ min: OLDEST, max: LATEST }).map((ms) => String(ms)), // epoch as a string
  fc.string({ unit: 'binary', maxLength: 30 }).map((s) => `x${s}`),
  fc.boolean(),
  neverValid,
);

/** Characters outside the id alphabet, including invisible and direction-changing ones. */
const notIdChar = fc.constantFrom('\u200B', '\u200D', '\u202E', '\u2066', '\uFEFF', '\uD800', '\uDFFF', 'é', 'İ', ' ', '/', '.', '\u0000', '\n', '😀', '٣');
const badId = fc.oneof(
  fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{0,20}$/), notIdChar, fc.stringMatching(/^[A-Za-z0-9_-]{0,20}$/)).map(([a, c, b]) => a + c + b),
  fc.stringMatching(/^[A-Za-z0-9_-]{65,80}$/),
  fc.constant(''),
  fc.integer(),
  neverValid,
);

const hostileKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'employeeId', 'Kind', 'kind\u200B', 'polluted'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
);
const pollutingValue = fc.oneof(fc.constant({ polluted: 'yes' }), fc.constant({ prototype: { polluted: 'yes' } }), fc.jsonValue({ maxDepth: 2 }));

const LOTS_OF_EVENTS = Array.from({ length: MAX_EVENTS + 1 }, () => ({ kind: 'click', ts: NOW_MS, x: 0, y: 0, button: 'left' }));

const mutation: fc.Arbitrary<[string, Mutation]> = fc.oneof(
  fc.tuple(fc.nat(), fc.nat(), neverValid).map(([i, f, value]): [string, Mutation] => [
    'wrong type',
    (b) => {
      const e = pick(b.events, i);
      const field = pick(ALLOWED[kindOf(e)]?.filter((k) => k !== 'secureField') ?? [], f);
      e[field] = value;
      return b;
    },
  ]),
  fc.tuple(fc.nat(), fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.constant('true'))).map(([i, value]): [string, Mutation] => [
    'secureField not a boolean',
    (b) => {
      const e = pick(b.events, i);
      setOwn(e, 'kind', 'keystroke');
      e['text'] = 'x';
      for (const k of Object.keys(e)) if (!ALLOWED['keystroke']?.includes(k)) delete e[k];
      e['secureField'] = value;
      return b;
    },
  ]),
  fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 60_000 }), fc.string({ unit: 'grapheme', maxLength: 3 })).map(([i, f, extra, tail]): [string, Mutation] => [
    'huge string',
    (b) => {
      const e = pick(b.events, i);
      const field = pick(STRING_FIELDS[kindOf(e)] ?? [], f);
      const limit = field === 'text' ? 4096 : field === 'title' ? 1024 : 256;
      e[field] = 'x'.repeat(limit + extra) + tail;
      return b;
    },
  ]),
  fc.tuple(fc.constantFrom('batchId', 'deviceId'), fc.integer({ min: 1, max: 100_000 })).map(([key, extra]): [string, Mutation] => [
    'huge id',
    (b) => ({ ...b, [key]: 'a'.repeat(64 + extra) }),
  ]),
  fc.tuple(fc.nat(), badTs).map(([i, value]): [string, Mutation] => [
    'bad timestamp',
    (b) => {
      pick(b.events, i)['ts'] = value;
      return b;
    },
  ]),
  fc.tuple(fc.constantFrom('batchId', 'deviceId'), badId).map(([key, value]): [string, Mutation] => ['bad id', (b) => ({ ...b, [key]: value })]),
  fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF'), fc.boolean()).map(([i, f, surrogate, atEnd]): [string, Mutation] => [
    'lone surrogate',
    (b) => {
      const e = pick(b.events, i);
      const field = pick(STRING_FIELDS[kindOf(e)] ?? [], f);
      const before = typeof e[field] === 'string' ? (e[field] as string).slice(0, 100) : 'x';
      // A high surrogate at the very end, or a low one at the very start, has no partner.
      const high = surrogate <= '\uDBFF';
      e[field] = high ? (atEnd ? before + surrogate : `${surrogate}x${before}${surrogate}`) : `${surrogate}${before}`;
      return b;
    },
  ]),
  fc.tuple(fc.nat(), fc.boolean(), hostileKey, pollutingValue).map(([i, onEvent, key, value]): [string, Mutation] => [
    'unknown or polluting key',
    (b) => {
      const target = onEvent ? pick(b.events, i) : b;
      const allowed = onEvent ? (ALLOWED[kindOf(target)] ?? []) : (ALLOWED['batch'] ?? []);
      setOwn(target, allowed.includes(key) ? `${key}_extra` : key, value);
      return b;
    },
  ]),
  fc.tuple(fc.nat(), fc.oneof(neverValid, fc.string(), fc.integer(), fc.boolean(), deep)).map(([i, value]): [string, Mutation] => [
    'event replaced',
    (b) => {
      b.events[i % b.events.length] = value as Json;
      return b;
    },
  ]),
  fc.oneof(
    fc.constant<[string, Mutation]>(['array of bodies', (b) => [b]]),
    fc.constant<[string, Mutation]>(['events as the body', (b) => b.events]),
    fc.constant<[string, Mutation]>(['body as JSON text', (b) => JSON.stringify(b)]),
    fc.oneof(fc.jsonValue({ maxDepth: 0 }), deep).map((v): [string, Mutation] => ['body replaced', () => v]),
  ),
  fc.tuple(fc.nat(), fc.nat(), fc.boolean()).map(([i, f, onEvent]): [string, Mutation] => [
    'required field removed',
    (b) => {
      if (!onEvent) {
        delete b[pick(REQUIRED['batch'] ?? [], f)];
        return b;
      }
      const e = pick(b.events, i);
      delete e[pick(REQUIRED[kindOf(e)] ?? [], f)];
      return b;
    },
  ]),
  fc.tuple(
    fc.nat(),
    fc.oneof(
      fc.constantFrom('Keystroke', 'KEYSTROKE', 'keystroke\u200B', '\u202Eclick', 'click ', 'app_focus', 'appFocus', '__proto__', 'constructor', ''),
      fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !['keystroke', 'click', 'app-focus'].includes(s)),
    ),
  ).map(([i, kind]): [string, Mutation] => [
    'unknown kind',
    (b) => {
      pick(b.events, i)['kind'] = kind;
      return b;
    },
  ]),
  fc.tuple(
    fc.nat(),
    fc.constantFrom('x', 'y'),
    fc.oneof(
      fc.integer({ min: 100_001, max: Number.MAX_SAFE_INTEGER }),
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: -100_001 }),
      fc.double({ noInteger: true }),
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '1', '0x10'),
    ),
  ).map(([i, axis, value]): [string, Mutation] => [
    'bad coordinate',
    (b) => {
      b.events[i % b.events.length] = { kind: 'click', ts: NOW_MS, x: 0, y: 0, button: 'left', [axis]: value };
      return b;
    },
  ]),
  fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 10 }).filter((s) => !['left', 'right', 'middle', 'other'].includes(s))).map(([i, button]): [string, Mutation] => [
    'bad button',
    (b) => {
      b.events[i % b.events.length] = { kind: 'click', ts: NOW_MS, x: 0, y: 0, button };
      return b;
    },
  ]),
  fc.constantFrom<[string, Mutation]>(['no events', (b) => ({ ...b, events: [] })], ['5,001 events', (b) => ({ ...b, events: LOTS_OF_EVENTS })]),
  fc.tuple(fc.nat(), fc.nat(), deep).map(([i, f, value]): [string, Mutation] => [
    'deep nesting in a field',
    (b) => {
      const e = pick(b.events, i);
      e[pick(ALLOWED[kindOf(e)] ?? [], f)] = value;
      return b;
    },
  ]),
);

// ---------------------------------------------------------------------------------------------
// Planted secrets


const card = fc
  .tuple(fc.constantFrom('2', '3', '4', '5', '6'), fc.integer({ min: 13, max: 19 }))
  .chain(([first, length]) =>
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: length - 2, maxLength: length - 2 }).map((middle) => withCheckDigit(first + middle.join(''))),
  )
  .chain((digits) => {
    const layouts: fc.Arbitrary<string>[] = [fc.constant(digits)];
    if (digits.length === 16) layouts.push(fc.constantFrom(' ', '-').map((sep) => digits.match(/.{4}/g)?.join(sep) ?? digits));
    if (digits.length === 15) layouts.push(fc.constantFrom(' ', '-').map((sep) => [digits.slice(0, 4), digits.slice(4, 10), digits.slice(10)].join(sep)));
    return fc.oneof(...layouts);
  });
const email = fc
  .tuple(
    fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._%+-]{0,15}$/),
    fc.array(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,10}$/), { minLength: 1, maxLength: 3 }),
    fc.stringMatching(/^[A-Za-z]{2,6}$/),
  )
  .map(([local, labels, tld]) => `${local}@${labels.join('.')}.${tld}`);
const awsKey = fc.tuple(fc.constantFrom('AKIA', 'ASIA'), fc.stringMatching(/^[A-Z0-9]{16}$/)).map(([p, rest]) => p + rest);
const b64url = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');
const jwt = fc
  .tuple(
    fc.record({ alg: fc.constantFrom('HS256', 'RS256', 'ES256', 'none'), typ: fc.constant('JWT') }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 4 }),
    fc.uint8Array({ minLength: 0, maxLength: 64 }),
  )
  .map(([header, payload, signature]) => `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${b64url(signature)}`);
const secret = fc.oneof(card, email, awsKey, jwt);
const surrounding = fc.string({ unit: 'grapheme', maxLength: 30 });

// ---------------------------------------------------------------------------------------------

describe(`parseBatch fuzzing (seed ${SEED}; set FC_SEED to change it)`, () => {
  it('accepts every valid body and normalises ts to epoch milliseconds in the window', () => {
    fc.assert(
      fc.property(validBody, (body) => {
        const result = parseBatch(body, NOW);

        expect(result.ok).toBe(true);
        if (!result.ok) return;
        expect(result.batch.events).toHaveLength(body.events.length);
        for (const [i, parsed] of result.batch.events.entries()) {
          expect(Number.isSafeInteger(parsed.ts)).toBe(true);
          expect(parsed.ts).toBeGreaterThanOrEqual(OLDEST);
          expect(parsed.ts).toBeLessThanOrEqual(LATEST);
          expect({ ...parsed, ts: 0 }).toEqual({ ...body.events[i], ts: 0 });
        }
      }),
      params(),
    );
  });

  it('refuses every malformed body with 1 to 20 details, never throws and pollutes nothing', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(validBody, mutation, (body, [name, mutate]) => {
        seen.set(name, (seen.get(name) ?? 0) + 1);
        const malformed = mutate(structuredClone(body));

        let result: ParseBatchResult | undefined;
        expect(() => {
          result = parseBatch(malformed, NOW);
        }).not.toThrow();

        assertRefused(result as ParseBatchResult);
        assertUnpolluted();
      }),
      params(3_000),
    );
    // Every malformation was exercised, so none of them is silently dead.
    expect(seen.size).toBe(20);
  });

  it('never throws on arbitrary values, including null prototypes, bigint, maps and sparse arrays', () => {
    const anything = fc.anything({
      withNullPrototype: true,
      withBigInt: true,
      withMap: true,
      withSet: true,
      withDate: true,
      withTypedArray: true,
      withSparseArray: true,
      withBoxedValues: true,
      stringUnit: 'binary',
      key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'batchId', 'deviceId', 'events', 'kind', 'ts'), fc.string()),
    });
    fc.assert(
      fc.property(anything, (value) => {
        const result = parseBatch(value, NOW);

        assertRefused(result);
        assertUnpolluted();
      }),
      params(),
    );
  });

  it('refuses JSON text with __proto__ or constructor keys after JSON.parse', () => {
    const PLACEHOLDER = '\u0001event-to-inject\u0001';
    const injection = fc.constantFrom('"__proto__":{"polluted":"yes"}', '"constructor":{"prototype":{"polluted":"yes"}}', '"__proto__":[]', '"__proto__":null');
    fc.assert(
      fc.property(validBody, injection, fc.nat(), fc.boolean(), (body, injected, i, onEvent) => {
        const json = onEvent
          ? JSON.stringify({ ...body, events: body.events.map((e, k) => (k === i % body.events.length ? PLACEHOLDER : e)) }).replace(
              JSON.stringify(PLACEHOLDER),
              `{${injected},${JSON.stringify(pick(body.events, i)).slice(1)}`,
            )
          : `{${injected},${JSON.stringify(body).slice(1)}`;
        const parsed: unknown = JSON.parse(json);

        const result = parseBatch(parsed, NOW);

        assertRefused(result);
        assertUnpolluted();
      }),
      params(),
    );
  });
});

describe(`redaction of planted secrets (seed ${SEED})`, () => {
  it('never lets a planted card, email, AWS key or JWT through in text or title', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(surrounding, secret, surrounding, fc.boolean()), { minLength: 1, maxLength: 6 }), (plants) => {
        const events = plants.map(([before, planted, after, asTitle]) =>
          asTitle ? { kind: 'app-focus', ts: NOW_MS, app: 'Browser', title: `${before} ${planted} ${after}` } : { kind: 'keystroke', ts: NOW_MS, text: `${before} ${planted} ${after}` },
        );
        const parsed = parseBatch({ batchId: 'b', deviceId: 'd', events }, NOW);
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;

        const result = redactEvents(parsed.batch.events);

        expect(result.redactions).toBeGreaterThanOrEqual(plants.length);
        for (const [i, out] of result.events.entries()) {
          const planted = plants[i]?.[1] ?? '';
          const visible = out.kind === 'keystroke' ? out.text : out.kind === 'app-focus' ? (out.title ?? '') : '';
          expect(visible).not.toContain(planted);
        }
      }),
      params(),
    );
  });
});
