// What the reader yields: one stored capture event with the lineage of the object it came from
// (whose, which scope and batch, and under which consent and notice it was captured).
import * as z from 'zod';
import { BUTTONS } from '../../contract/capture-batch.js';
import type { DatasetManifestLine } from '../../contract/dataset-manifest.js';
import type { Scope } from '../../contract/vocabulary.js';

/**
 * A stored event as ingest writes it (after redaction, `ts` in epoch ms). Strict, so a stored event
 * can never carry a lineage field of its own and relabel a record. Lengths are not re-checked:
 * redaction masks may lengthen text beyond what an agent may send.
 */
export const storedEventSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('keystroke'), ts: z.number().int(), text: z.string(), app: z.string().optional(), secureField: z.literal(false).optional() }),
  z.strictObject({ kind: z.literal('click'), ts: z.number().int(), x: z.number().int(), y: z.number().int(), button: z.enum(BUTTONS), app: z.string().optional() }),
  z.strictObject({ kind: z.literal('app-focus'), ts: z.number().int(), app: z.string(), title: z.string().optional() }),
]);
export type StoredEvent = z.infer<typeof storedEventSchema>;

/** The lineage fields every record carries, in this order. */
export const LINEAGE_FIELDS = ['employeeId', 'scope', 'batchId', 'consentSeq', 'noticeVersion', 'noticeSha256'] as const;

export interface Lineage {
  readonly employeeId: string;
  readonly scope: Scope;
  readonly batchId: string;
  /** The ledger sequence of the consent under which the object was captured. */
  readonly consentSeq: number;
  readonly noticeVersion: string;
  readonly noticeSha256: string;
}

export type DatasetRecord = Lineage & StoredEvent;

export function lineageOf(line: DatasetManifestLine): Lineage {
  return {
    employeeId: line.employeeId,
    scope: line.scope,
    batchId: line.batchId,
    consentSeq: line.lineage.consentSeq,
    noticeVersion: line.lineage.noticeVersion,
    noticeSha256: line.lineage.noticeSha256,
  };
}
