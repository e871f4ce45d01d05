// Training datasets as views over employees' own keys: the request and answers of the datasets
// routes, the datasets queue's jobs, the table's items and the training grants' names. The consent
// function (routes), the datasets worker (builds, sweeps) and the key steward (grants) share them.
import * as z from './zod.js';
import { DATASET_STATUSES } from './dataset-manifest.js';
import { ID_PATTERN, SCOPES, type Scope } from './vocabulary.js';

/** Fewer employees than this and a dataset is refused: no single person can be singled out through a small one. */
export const DEFAULT_MIN_EMPLOYEES = 10;
/** Days a dataset's grants live before the sweeper retires them, unless the deployer sets `datasetMaxDays`. */
export const DEFAULT_DATASET_MAX_DAYS = 30;
export const MAX_DATASET_BODY_BYTES = 16 * 1024;

const instant = z.iso.datetime({ offset: true });
const datasetId = z.string().check(z.regex(ID_PATTERN));

/** `POST /v1/datasets`. `from`/`to` bound the objects' event times; `purpose` goes on the card and in the use restrictions. */
export const datasetRequestBody = z
  .strictObject({
    scopes: z.array(z.enum(SCOPES)).check(z.minLength(1), z.maxLength(SCOPES.length)),
    from: instant,
    to: instant,
    // One line of text: the purpose is written verbatim into the markdown card, where a line break
    // could add a heading or a forged "Use restrictions" section; control and format characters
    // (bidi overrides) could hide what it says.
    purpose: z.string().check(z.minLength(3), z.maxLength(500), z.regex(/^[^\p{Cc}\p{Cf}\u2028\u2029]*$/u, 'purpose must be one line without control characters')),
    minEmployees: z.optional(z.number().check(z.int(), z.gte(DEFAULT_MIN_EMPLOYEES), z.lte(1_000_000))),
  })
  .check(
    z.refine((body) => Date.parse(body.from) < Date.parse(body.to), { path: ['to'], message: 'to must be after from' }),
    z.refine((body) => new Set(body.scopes).size === body.scopes.length, { path: ['scopes'], message: 'scopes repeat' }),
  );
export type DatasetRequestBody = z.infer<typeof datasetRequestBody>;

export const datasetAcceptedResponse = z.object({ datasetId, status: z.enum(DATASET_STATUSES) });

export const datasetCountsSchema = z.object({
  employees: z.number().check(z.int(), z.gte(0)),
  objects: z.number().check(z.int(), z.gte(0)),
  events: z.number().check(z.int(), z.gte(0)),
  /** Per scope: objects, events and employees. */
  scopes: z.partialRecord(z.enum(SCOPES), z.object({ objects: z.number().check(z.int(), z.gte(0)), events: z.number().check(z.int(), z.gte(0)), employees: z.number().check(z.int(), z.gte(0)) })),
});
export type DatasetCounts = z.infer<typeof datasetCountsSchema>;

/** `GET /v1/datasets/{datasetId}`: `manifest` names the bucket and keys of the manifest and cards once ready. */
export const datasetStatusResponse = z.object({
  datasetId,
  status: z.enum(DATASET_STATUSES),
  purpose: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  from: instant,
  to: instant,
  createdAt: instant,
  expiresAt: instant,
  counts: z.optional(datasetCountsSchema),
  manifest: z.optional(z.object({ bucket: z.string(), key: z.string(), card: z.string(), cardMarkdown: z.string() })),
  reason: z.optional(z.string()),
});

/** `GET /v1/consent/datasets`: the datasets the caller's own data is part of, and by which of their scopes. */
export const consentDatasetsResponse = z.object({
  datasets: z.array(
    z.object({
      datasetId,
      purpose: z.string(),
      scopes: z.array(z.enum(SCOPES)),
      createdAt: instant,
      expiresAt: instant,
      status: z.enum(DATASET_STATUSES),
    }),
  ),
});

/** The datasets queue: build one dataset, or sweep the expired ones (EventBridge Scheduler sends it). */
export const datasetJobSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('build'), datasetId }),
  z.strictObject({ kind: z.literal('sweep') }),
]);
export type DatasetJob = z.infer<typeof datasetJobSchema>;

/**
 * A training grant's name: `dataset:<datasetId>:<scope>`. KMS lists it with the grant, so the
 * steward knows which dataset loses which scope when it revokes a grant, without a table.
 */
export function trainingGrantName(datasetIdValue: string, scope: Scope): string {
  return `dataset:${datasetIdValue}:${scope}`;
}

export function parseTrainingGrantName(name: string | undefined): { readonly datasetId: string; readonly scope: Scope } | undefined {
  const match = /^dataset:([A-Za-z0-9_-]{1,64}):([a-z-]+)$/.exec(name ?? '');
  if (match === null) return undefined;
  const scope = match[2] as Scope;
  if (!(SCOPES as readonly string[]).includes(scope) || match[1] === undefined) return undefined;
  return { datasetId: match[1], scope };
}
