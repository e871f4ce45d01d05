// The calls the export tests make over HTTP, on top of the consent test stack: consent, capture
// through ingest (returning the lines an export must then hold), request an export, poll it until
// it finishes, fetch its manifest; and a canonical form to compare lines whatever their order.
import { expect } from 'vitest';
import { exportManifestSchema, type ExportManifest } from '../../contract/export-format.js';
import { exportStatusResponse } from '../../contract/responses.js';
import { SCOPE_OF_EVENT_KIND } from '../../contract/vocabulary.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { redactEvents } from '../../lambdas/ingest/redaction.js';
import { parseBatch } from '../../lambdas/ingest/schemas.js';
import type { captureBatch } from './capture-batches.js';
import { NOTICE, type ConsentTestStack } from './consent-api.js';
import { pollUntil } from './local-stack.js';

export type Batch = ReturnType<typeof captureBatch>;
export type ExportStatusBody = ReturnType<typeof exportStatusResponse.parse>;

export interface ExportApi {
  consent(employeeId: string, scopes: readonly string[]): Promise<void>;
  /** Sends a batch through ingest; returns the lines an export must hold for it: the stored, redacted events of the consented scopes. */
  capture(employeeId: string, batch: Batch, consented: readonly string[]): Promise<Record<string, unknown>[]>;
  requestExport(employeeId: string): Promise<{ status: number; body: Record<string, unknown> }>;
  exportStatus(employeeId: string, exportId: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Polls until the export is ready or failed and its worker has returned the job (ledger, lock and grant done). */
  untilFinished(employeeId: string, exportId: string): Promise<ExportStatusBody>;
  manifestOf(status: ExportStatusBody): Promise<ExportManifest>;
}

export function exportApi(t: ConsentTestStack): ExportApi {
  const api: ExportApi = {
    async consent(employeeId, scopes) {
      const response = await t.call('POST', '/v1/consent', { token: await t.token(employeeId, 'consent:manage'), body: { scopes, ...NOTICE } });
      expect(response.status).toBe(200);
    },
    async capture(employeeId, batch, consented) {
      const response = await t.call('POST', '/v1/events', { token: await t.token(employeeId, 'capture:write'), body: batch });
      expect(response.status).toBe(202);
      const parsed = parseBatch(batch, new Date());
      if (!parsed.ok) throw new Error('the test batch does not parse');
      return redactEvents(parsed.batch.events)
        .events.filter((event) => consented.includes(SCOPE_OF_EVENT_KIND[event.kind]))
        .map((event) => ({ scope: SCOPE_OF_EVENT_KIND[event.kind], batchId: batch.batchId, deviceId: batch.deviceId, ...event }));
    },
    async requestExport(employeeId) {
      return t.call('POST', '/v1/exports', { token: await t.token(employeeId, 'consent:manage') });
    },
    async exportStatus(employeeId, exportId) {
      return t.call('GET', `/v1/exports/${exportId}`, { token: await t.token(employeeId, 'consent:manage') });
    },
    async untilFinished(employeeId, exportId) {
      const finished = await pollUntil(
        async () => {
          const { status, body } = await api.exportStatus(employeeId, exportId);
          expect(status).toBe(200);
          const parsed = exportStatusResponse.parse(body);
          return parsed.status === 'ready' || parsed.status === 'failed' ? parsed : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 100, what: `export ${exportId} finished` },
      );
      // The status turns final before the worker's last steps (the ledger's export-ready, the
      // lock, the grant), which tests check too: wait until the worker has returned the job, so
      // they do not race it on a loaded machine.
      await t.stack.queues.idle(LOCAL_RESOURCES.queues.export, 30_000);
      return finished;
    },
    async manifestOf(status) {
      if (status.manifestUrl === undefined) throw new Error('no manifest URL');
      const response = await fetch(status.manifestUrl);
      expect(response.status).toBe(200);
      return exportManifestSchema.parse(await response.json());
    },
  };
  return api;
}

/** Sorted the same way whatever the order: each line with its keys sorted, then the lines. */
export function canonical(lines: readonly Record<string, unknown>[]): string[] {
  return lines.map((line) => JSON.stringify(Object.fromEntries(Object.entries(line).sort(([a], [b]) => a.localeCompare(b))))).sort();
}
