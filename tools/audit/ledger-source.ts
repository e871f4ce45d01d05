// The consent ledger as the audit reads it: through the SDK (Query per employee, never Scan, as the
// auditor role may), or from a JSON Lines export this tool writes. Events are read as untrusted
// input: an invalid one is reported, never folded into a window.
import { readFileSync, writeFileSync } from 'node:fs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ConsentEvent } from '../../lambdas/shared/consent-state.js';
import { Ledger } from '../../lambdas/shared/ledger.js';
import { readLedgerEvent } from '../../lambdas/shared/ledger-event.js';

export interface LedgerExport {
  readonly events: ReadonlyMap<string, readonly ConsentEvent[]>;
  /** Events that failed validation, by path only (an invalid event may carry anything). */
  readonly invalid: readonly { employeeId: string; sequence: number | undefined; issues: readonly string[] }[];
}

export async function readLedger(documents: DynamoDBDocumentClient, table: string, employeeIds: readonly string[], onEmployee?: (done: number) => void): Promise<LedgerExport> {
  const ledger = new Ledger(documents, table);
  const events = new Map<string, ConsentEvent[]>();
  const invalid: { employeeId: string; sequence: number | undefined; issues: readonly string[] }[] = [];
  let done = 0;
  for (const employeeId of employeeIds) {
    const readings = await ledger.eventsAfter(employeeId, 0);
    const valid: ConsentEvent[] = [];
    for (const reading of readings) {
      if (reading.valid) valid.push(reading.event);
      else invalid.push({ employeeId, sequence: reading.sequence, issues: reading.issues });
    }
    if (valid.length > 0) events.set(employeeId, valid);
    done += 1;
    onEmployee?.(done);
  }
  return { events, invalid };
}

/** One ledger event a line, as the table holds it (without its keys). */
export function writeLedgerFile(path: string, ledger: LedgerExport): void {
  const lines = [...ledger.events.values()].flat().map((e) => JSON.stringify(e));
  writeFileSync(path, lines.length === 0 ? '' : `${lines.join('\n')}\n`);
}

export function readLedgerFile(path: string): LedgerExport {
  const events = new Map<string, ConsentEvent[]>();
  const invalid: { employeeId: string; sequence: number | undefined; issues: readonly string[] }[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch {
      invalid.push({ employeeId: '(unknown)', sequence: undefined, issues: ['(line): not JSON'] });
      continue;
    }
    const r = item as { employeeId?: unknown; sequence?: unknown };
    const employeeId = typeof r.employeeId === 'string' ? r.employeeId : '(unknown)';
    const reading = readLedgerEvent(employeeId, typeof r.sequence === 'number' ? r.sequence : undefined, item);
    if (!reading.valid) {
      invalid.push({ employeeId, sequence: reading.sequence, issues: reading.issues });
      continue;
    }
    const list = events.get(employeeId) ?? [];
    list.push(reading.event);
    events.set(employeeId, list);
  }
  for (const list of events.values()) list.sort((a, b) => a.sequence - b.sequence);
  return { events, invalid };
}
