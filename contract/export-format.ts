// What an employee's export is made of: one JSON line per captured event (the line schema, from
// which docs/export-line.schema.json is generated), the manifest beside the file, and the export
// job's statuses. The export worker writes them with these schemas; tests read them back with them.
import * as z from './zod.js';
import { BUTTONS } from './capture-batch.js';
import { EXPORTS_PREFIX } from './resources.js';
import { ID_PATTERN, SCOPES } from './vocabulary.js';

/** Where the docs keep the JSON Schema generated from {@link exportLineSchema}; a test keeps them equal. */
export const EXPORT_LINE_SCHEMA_FILE = 'docs/export-line.schema.json';
export const EXPORT_LINE_SCHEMA_ID = 'https://consent-capture.example/schemas/export-line.schema.json';
/** The manifest's `format`: bumped when a line or the manifest changes incompatibly. */
export const EXPORT_FORMAT = 'consent-capture-export/1';

export const EXPORT_STATUSES = ['queued', 'running', 'ready', 'failed'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];

/** The file and its manifest: `exports/{employeeId}/{exportId}.jsonl.gz` and `….manifest.json`, the same on every attempt. */
export function exportFileKeys(employeeId: string, exportId: string): { readonly file: string; readonly manifest: string } {
  const base = `${EXPORTS_PREFIX}${employeeId}/${exportId}`;
  return { file: `${base}.jsonl.gz`, manifest: `${base}.manifest.json` };
}

const id = z.string().check(z.regex(ID_PATTERN));
/** Epoch milliseconds, as ingest stores every event's `ts`. */
const epochMs = z.described(z.number().check(z.int()), 'when the event happened, in epoch milliseconds (UTC)');
/** Where an event came from: the capture object's scope and batch, and the agent's device (null if not recorded). */
const origin = {
  batchId: z.described(id, 'the batch the agent sent the event in'),
  deviceId: z.described(z.nullable(id), 'the device that captured it; null for objects stored before devices were recorded'),
};

const keystrokeLine = z.strictObject({
  scope: z.literal('keystrokes'),
  ...origin,
  kind: z.literal('keystroke'),
  ts: epochMs,
  text: z.described(z.string(), 'what was typed, after redaction (card numbers, emails, keys and tokens masked)'),
  app: z.optional(z.string()),
  secureField: z.described(z.optional(z.literal(false)), 'only ever false: keystrokes in secure fields are never stored'),
});

const clickLine = z.strictObject({
  scope: z.literal('clicks'),
  ...origin,
  kind: z.literal('click'),
  ts: epochMs,
  x: z.number().check(z.int()),
  y: z.number().check(z.int()),
  button: z.enum(BUTTONS),
  app: z.optional(z.string()),
});

const appFocusLine = z.strictObject({
  scope: z.literal('app-focus'),
  ...origin,
  kind: z.literal('app-focus'),
  ts: epochMs,
  app: z.string(),
  title: z.described(z.optional(z.string()), 'the window title, after redaction'),
});

/** One line of the export file: a stored event with its scope, batch and device. */
export const exportLineSchema = z
  .discriminatedUnion('kind', [keystrokeLine, clickLine, appFocusLine])
  .register(z.globalRegistry, { id: 'export-line', title: 'consent-capture export line', description: 'One captured event, as stored (after redaction), with its scope, batch and device.' });
export type ExportLine = z.infer<typeof exportLineSchema>;

/** The JSON Schema of a line, as docs/export-line.schema.json holds it. */
export function exportLineJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(exportLineSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  return { ...generated, $id: EXPORT_LINE_SCHEMA_ID };
}

const instant = z.iso.datetime({ offset: true });
const count = z.number().check(z.int(), z.gte(0));

/** Why a capture object could not be exported. The manifest names the object and this reason, never its content. */
export const UNREADABLE_REASONS = [
  /** Decryption failed: the bytes were altered or truncated, or KMS refused the data key. */
  'decrypt-failed',
  /** The message decrypted, but its encryption context is not the one its key names. */
  'context-mismatch',
  /** The message decrypted, but not with the committing, non-signing suite ingest writes. */
  'unexpected-suite',
  /** The key is not `captures/{employeeId}/{scope}/{yyyy}/{mm}/{dd}/{batchId}`. */
  'unexpected-key',
  /** The plaintext is not gzip'd JSON Lines of valid events of the object's scope. */
  'invalid-content',
] as const;

export const exportManifestSchema = z.strictObject({
  format: z.literal(EXPORT_FORMAT),
  exportId: id,
  employeeId: id,
  requestedAt: instant,
  completedAt: instant,
  file: z.strictObject({ key: z.string(), bytes: count, sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)), lines: count }),
  /** Capture objects listed under captures/{employeeId}/: exported plus unreadable. */
  objects: z.strictObject({ listed: count, exported: count, unreadable: count }),
  /** Events exported, per scope. */
  counts: z.partialRecord(z.enum(SCOPES), count),
  /** The earliest and latest event exported; absent when none was. */
  timeRange: z.optional(z.strictObject({ from: instant, to: instant })),
  unreadable: z.array(z.strictObject({ key: z.string(), reason: z.enum(UNREADABLE_REASONS) })),
  /** The employee's whole consent history from the ledger, oldest first (Art. 15 covers it too). */
  consentHistory: z.array(
    z.strictObject({
      sequence: z.number().check(z.int(), z.gt(0)),
      kind: z.string(),
      at: instant,
      actor: z.unknown(),
      status: z.string(),
      scopes: z.array(z.string()),
      pausedUntil: z.optional(instant),
      noticeVersion: z.optional(z.string()),
      details: z.optional(z.record(z.string(), z.unknown())),
    }),
  ),
});
export type ExportManifest = z.infer<typeof exportManifestSchema>;
