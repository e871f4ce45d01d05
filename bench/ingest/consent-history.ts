// Part 4 of bench:ingest: what judging consent at event time costs as an employee's ledger grows.
// Ingest reads only the newest ledger event (one Query, Limit 1), which carries the consent windows
// of the last 7 days per scope, capped at MAX_WINDOWS_PER_SCOPE; so the cost should be flat in
// the number of ledger events, and bounded by the cap for the busiest week. Measured per history,
// each against the first-consent baseline in the same rounds (the order rotates every round):
//   - the check alone: parse the newest event's windows and test every event of a batch;
//   - the real handler on a 1,000-event batch, with the ledger stub answering that history's newest
//     event (so zod's validation of the windows is included);
//   - Ledger.latestEvent against dynalite (in memory, on 127.0.0.1) holding the whole history.
import { createRequire } from 'node:module';
import type { AddressInfo, Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { parseBatch } from '../../lambdas/ingest/schemas.js';
import { SCOPE_OF_EVENT_KIND, SCOPES } from '../../lambdas/shared/consent-model.js';
import type { ConsentEvent, ConsentEventKind, ConsentState } from '../../lambdas/shared/consent-state.js';
import { foldWindows, isInside, MAX_WINDOWS_PER_SCOPE, windowSpans, windowsOf, type ConsentWindows } from '../../lambdas/shared/consent-windows.js';
import { eventSortKey, Ledger } from '../../lambdas/shared/ledger.js';
import { TABLE_SHAPE } from '../../local/dynamodb.js';
import { generateBatch } from './batch-generator.js';
import { BENCH_KEY_ARN, EMPLOYEE_ID, httpEvent, rawAesKeyring, realHandler } from './handler-only.js';
import { kib, ms, Samples, table } from './measurement.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const EVENTS_PER_BATCH = 1_000;

export interface ConsentHistoryOptions {
  /** Wall-clock budget of the measured rounds. */
  readonly seconds: number;
  readonly log: (text: string) => void;
}

export interface HistoryRow {
  readonly name: string;
  readonly ledgerEvents: number;
  readonly windowsPerScope: number;
  readonly newestEventBytes: number;
  /** Medians, and each median's ratio to the first-consent baseline's. */
  readonly checkFreshUs: number;
  readonly checkSpreadUs: number;
  readonly handlerMs: number;
  readonly readMs: number;
  readonly ratios: { readonly checkFresh: number; readonly checkSpread: number; readonly handler: number; readonly read: number };
}

export interface ConsentHistoryResult {
  readonly rounds: number;
  readonly rows: readonly HistoryRow[];
}

interface History {
  readonly name: string;
  readonly events: readonly ConsentEvent[];
}

/**
 * A ledger: a grant `days` ago, then pause/resume cycles every `cycleMinutes` (a pause of an hour
 * resumed after `pausedMinutes`), ending active a minute before `now`. Windows folded as the
 * consent function folds them.
 */
function history(name: string, now: number, days: number, cycleMinutes: number, pausedMinutes: number): History {
  const start = now - days * DAY;
  const events: ConsentEvent[] = [];
  let windows: ConsentWindows = {};
  const record = (kind: ConsentEventKind, at: number, status: 'active' | 'paused', pausedUntil?: number): void => {
    const sequence = events.length + 1;
    const iso = new Date(at).toISOString();
    const base: ConsentState = {
      employeeId: EMPLOYEE_ID,
      status,
      scopes: [...SCOPES],
      keyArn: BENCH_KEY_ARN,
      ...(pausedUntil === undefined ? {} : { pausedUntil: new Date(pausedUntil).toISOString() }),
      sequence,
      updatedAt: iso,
    };
    windows = foldWindows(windows, base, new Date(at));
    events.push({ employeeId: EMPLOYEE_ID, sequence, kind, at: iso, actor: { kind: 'employee', issuer: 'https://idp.example', subject: EMPLOYEE_ID }, state: { ...base, windows } });
  };
  record('granted', start, 'active');
  const last = now - MINUTE;
  for (let at = start + cycleMinutes * MINUTE; at + pausedMinutes * MINUTE < last; at += cycleMinutes * MINUTE) {
    record('paused', at, 'paused', at + HOUR);
    record('resumed', at + pausedMinutes * MINUTE, 'active');
  }
  return { name, events };
}

/** A batch as the generator makes it, with its events' ts spread evenly over the last 7 days (the scan's worst case). */
function spreadBatch(body: string, now: number): { kind: keyof typeof SCOPE_OF_EVENT_KIND; ts: number }[] {
  const parsed = parseBatch(JSON.parse(body), new Date(now));
  if (!parsed.ok) throw new Error('the generated batch is invalid');
  const span = 7 * DAY - 2 * MINUTE;
  return parsed.batch.events.map((e, i) => ({ kind: e.kind, ts: now - span + Math.floor((i * span) / parsed.batch.events.length) }));
}

/** The event-time check as IngestService does it: the newest event's windows parsed once, each ts tested. */
function check(state: ConsentState, events: readonly { kind: keyof typeof SCOPE_OF_EVENT_KIND; ts: number }[]): number {
  const spans = windowSpans(windowsOf(state));
  let inside = 0;
  for (const e of events) if (isInside(spans, SCOPE_OF_EVENT_KIND[e.kind], e.ts)) inside += 1;
  return inside;
}

type DynaliteFactory = (options: { createTableMs?: number }) => Server;

async function startLedger(histories: readonly History[]): Promise<{ ledgerOf: (h: History) => Ledger; close: () => Promise<void> }> {
  const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const client = new DynamoDBClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const db = DynamoDBDocumentClient.from(client);
  const tables = new Map<History, string>();
  for (const [i, h] of histories.entries()) {
    // One table per history, so each Query sees exactly one employee's ledger of that length.
    const table = `ledger-${i}`;
    await client.send(
      new CreateTableCommand({
        TableName: table,
        ...TABLE_SHAPE,
      }),
    );
    for (let n = 0; n < h.events.length; n += 25) {
      const items = h.events.slice(n, n + 25).map((e) => ({ PutRequest: { Item: { pk: e.employeeId, sk: eventSortKey(e.sequence), ...e } } }));
      await db.send(new BatchWriteCommand({ RequestItems: { [table]: items } }));
    }
    tables.set(h, table);
  }
  return {
    ledgerOf: (h) => new Ledger(db, tables.get(h) ?? ''),
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
      });
    },
  };
}

export async function runConsentHistory(options: ConsentHistoryOptions): Promise<ConsentHistoryResult> {
  const { log } = options;
  const now = Date.now();
  const histories: History[] = [
    history('first consent (baseline)', now, 0.01, 1e9, 0),
    history('a busy week: 2 pauses a day', now, 7, 12 * 60, 30),
    history('a busy year: 2 pauses a day', now, 365, 12 * 60, 30),
    history('a pause every 30 minutes for a week (the cap)', now, 7, 30, 10),
  ];
  const baseline = histories[0] as History;
  const batches = Array.from({ length: 8 }, (_, i) => generateBatch(4_000 + i, { events: EVENTS_PER_BATCH, now: new Date(now) }));
  const fresh = batches.map((b) => {
    const parsed = parseBatch(JSON.parse(b.body), new Date(now));
    if (!parsed.ok) throw new Error('the generated batch is invalid');
    return parsed.batch.events.map((e) => ({ kind: e.kind, ts: e.ts }));
  });
  const spread = batches.map((b) => spreadBatch(b.body, now));
  const keyring = rawAesKeyring();
  const handlers = new Map(histories.map((h) => [h, realHandler(keyring, h.events.at(-1) as ConsentEvent)]));
  log(`histories written to dynalite (in memory): ${histories.map((h) => `${h.events.length} events`).join(', ')}\n`);
  const ledger = await startLedger(histories);
  try {
    // Each history's newest event must let every fresh event in, or the handler rows compare unequal work.
    for (const h of histories) {
      const newest = h.events.at(-1) as ConsentEvent;
      const inside = check(newest.state, fresh[0] ?? []);
      if (inside !== EVENTS_PER_BATCH) throw new Error(`${h.name}: ${EVENTS_PER_BATCH - inside} fresh events fell outside consent`);
      const read = await ledger.ledgerOf(h).latestEvent(EMPLOYEE_ID);
      if (read?.sequence !== newest.sequence) throw new Error(`${h.name}: the ledger's newest event is ${String(read?.sequence)}, not ${newest.sequence}`);
    }
    const samples = new Samples();
    const round = async (r: number, record: boolean): Promise<void> => {
      const order = histories.map((_, i) => histories[(i + r) % histories.length] as History);
      const b = r % batches.length;
      for (const h of order) {
        const state = (h.events.at(-1) as ConsentEvent).state;
        let t0 = performance.now();
        for (let k = 0; k < 10; k += 1) check(state, fresh[b] ?? []);
        const freshUs = ((performance.now() - t0) * 1000) / 10;
        t0 = performance.now();
        check(state, spread[b] ?? []);
        const spreadUs = (performance.now() - t0) * 1000;
        t0 = performance.now();
        const response = await (handlers.get(h) ?? (() => Promise.reject(new Error('no handler'))))(httpEvent(batches[b]?.body ?? '', r));
        const handlerMs = performance.now() - t0;
        if (response.statusCode !== 202) throw new Error(`${h.name}: the handler answered ${response.statusCode} ${String(response.body).slice(0, 200)}`);
        t0 = performance.now();
        await ledger.ledgerOf(h).latestEvent(EMPLOYEE_ID);
        const readMs = performance.now() - t0;
        if (!record) continue;
        samples.add(`fresh:${h.name}`, freshUs);
        samples.add(`spread:${h.name}`, spreadUs);
        samples.add(`handler:${h.name}`, handlerMs);
        samples.add(`read:${h.name}`, readMs);
      }
    };
    for (let r = 0; r < 20; r += 1) await round(r, false);
    const deadline = performance.now() + options.seconds * 1000;
    let rounds = 0;
    while ((performance.now() < deadline && rounds < 2_000) || rounds < 20) {
      await round(rounds, true);
      rounds += 1;
    }
    const base = {
      fresh: samples.median(`fresh:${baseline.name}`),
      spread: samples.median(`spread:${baseline.name}`),
      handler: samples.median(`handler:${baseline.name}`),
      read: samples.median(`read:${baseline.name}`),
    };
    const rows: HistoryRow[] = histories.map((h) => {
      const newest = h.events.at(-1) as ConsentEvent;
      const checkFreshUs = samples.median(`fresh:${h.name}`);
      const checkSpreadUs = samples.median(`spread:${h.name}`);
      const handlerMs = samples.median(`handler:${h.name}`);
      const readMs = samples.median(`read:${h.name}`);
      return {
        name: h.name,
        ledgerEvents: h.events.length,
        windowsPerScope: Math.max(...SCOPES.map((s) => newest.state.windows?.[s]?.length ?? 0)),
        newestEventBytes: Buffer.byteLength(JSON.stringify(newest)),
        checkFreshUs,
        checkSpreadUs,
        handlerMs,
        readMs,
        ratios: { checkFresh: checkFreshUs / base.fresh, checkSpread: checkSpreadUs / base.spread, handler: handlerMs / base.handler, read: readMs / base.read },
      };
    });
    log(
      `${rounds} rounds (the order of histories rotates each round); medians, and × the first-consent baseline.\n` +
        `check: the newest event's windows parsed and every ts of a ${EVENTS_PER_BATCH}-event batch tested; "fresh" as agents send (the last ~3 minutes),\n` +
        `  "spread" over the last 7 days (every window is scanned). handler: createIngestHandler + IngestService, stubbed I/O, the ledger stub\n` +
        `  answering this history's newest event. read: Ledger.latestEvent (Query, newest first, validated) against dynalite holding the whole ledger.\n` +
        `windows are capped at ${MAX_WINDOWS_PER_SCOPE} per scope; older than 7 days + 5 minutes they are pruned.\n\n`,
    );
    const x = (n: number) => `${n.toFixed(2)}×`;
    log(
      `${table(
        ['history', 'ledger events', 'windows/scope', 'newest event', 'check fresh µs', '×', 'check spread µs', '×', 'handler ms', '×', 'read ms', '×'],
        rows.map((r) => [
          r.name,
          String(r.ledgerEvents),
          String(r.windowsPerScope),
          kib(r.newestEventBytes),
          r.checkFreshUs.toFixed(1),
          x(r.ratios.checkFresh),
          r.checkSpreadUs.toFixed(1),
          x(r.ratios.checkSpread),
          ms(r.handlerMs),
          x(r.ratios.handler),
          ms(r.readMs),
          x(r.ratios.read),
        ]),
      )}\n`,
    );
    return { rounds, rows };
  } finally {
    await ledger.close();
  }
}
