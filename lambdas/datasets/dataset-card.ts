// The dataset card written beside a manifest: JSON-LD following Croissant 1.0 with its RAI
// vocabulary, and the same facts as markdown for people. Counts, time range, notice versions,
// redaction rules, use restrictions and expiry; never captured content. Pure.
import type { DatasetCounts } from '../../contract/datasets.js';
import type { Scope } from '../shared/consent-model.js';

/** What ingest does before anything is encrypted (lambdas/ingest/redaction.ts). */
export const REDACTION_RULES = [
  'keystrokes typed into secure (password) fields are dropped before storage',
  'card numbers (Luhn-valid) in typed text and window titles are masked',
  'email addresses in typed text and window titles are masked',
  'API-key and token shapes in typed text and window titles are masked',
] as const;

/** Uses no dataset built here may serve, whatever its stated purpose. */
export const PROHIBITED_USES = [
  'no inference of emotions of individual workers (EU AI Act, Article 5(1)(f))',
  'no performance evaluation, monitoring or decisions about individual workers (EU AI Act, Annex III, point 4(b))',
  'no attempt to re-identify employees behind their pseudonymous ids',
  'no copies of decrypted records beyond the training job: withdrawal must keep working',
] as const;

export interface DatasetCardInput {
  readonly datasetId: string;
  readonly purpose: string;
  readonly scopes: readonly Scope[];
  /** The time range requested, ISO-8601. */
  readonly from: string;
  readonly to: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly counts: DatasetCounts;
  /** Notice version → its SHA-256, of every consent in the dataset's lineage. */
  readonly notices: Readonly<Record<string, string>>;
  readonly manifest: { readonly url: string; readonly sha256: string };
}

export function croissantCard(input: DatasetCardInput): Record<string, unknown> {
  const scopeCounts = Object.entries(input.counts.scopes).map(([scope, c]) => `${scope}: ${c.objects} objects, ${c.events} events, ${c.employees} employees`);
  return {
    '@context': {
      '@language': 'en',
      '@vocab': 'https://schema.org/',
      sc: 'https://schema.org/',
      cr: 'http://mlcommons.org/croissant/',
      rai: 'http://mlcommons.org/croissant/RAI/',
      dct: 'http://purl.org/dc/terms/',
      conformsTo: 'dct:conformsTo',
      sha256: 'cr:sha256',
    },
    '@type': 'sc:Dataset',
    conformsTo: 'http://mlcommons.org/croissant/1.0',
    '@id': input.datasetId,
    name: input.datasetId,
    description: `Consented computer-usage captures (${input.scopes.join(', ')}) for: ${input.purpose}. A view, not a copy: each record is decrypted through a per-employee, per-scope KMS grant that withdrawal revokes.`,
    datePublished: input.createdAt,
    expires: input.expiresAt,
    temporalCoverage: `${input.from}/${input.to}`,
    keywords: ['consent', 'computer usage', ...input.scopes],
    distribution: [
      {
        '@type': 'cr:FileObject',
        '@id': 'manifest.jsonl',
        name: 'manifest.jsonl',
        description: 'One line per capture object (AWS Encryption SDK messages) with its consent lineage',
        contentUrl: input.manifest.url,
        encodingFormat: 'application/jsonl',
        sha256: input.manifest.sha256,
      },
    ],
    'rai:dataCollection': 'Captured on employees\' computers by the consent-capture agent, only while the employee had consented to the scope and had not paused; each event is judged against the consent ledger at its own time, and each object was encrypted under the employee\'s own KMS key.',
    'rai:dataCollectionType': ['Direct measurement', 'Opt-in per scope'],
    'rai:dataCollectionTimeframe': [input.from, input.to],
    'rai:dataCollectionRawData': `${input.counts.objects} objects, ${input.counts.events} events from ${input.counts.employees} employees; ${scopeCounts.join('; ')}`,
    'rai:dataPreprocessingProtocol': [...REDACTION_RULES],
    'rai:personalSensitiveInformation': 'Behavioural data of identifiable (pseudonymous) employees: typed text after redaction, pointer clicks and application focus. Each record carries its consent lineage: the ledger sequence of the consent, the notice version and its SHA-256.',
    'rai:dataUseCases': [`Purpose as requested: ${input.purpose}`, ...PROHIBITED_USES.map((use) => `Prohibited: ${use}`)],
    'rai:dataLimitations': `At least ${input.counts.employees} employees per scope; employees who withdraw consent disappear from the dataset at once (their records read as withdrawn), so the readable size only shrinks.`,
    'rai:dataSocialImpact': 'Workplace capture can be used against the people captured; the prohibited uses are part of the dataset\'s terms.',
    'rai:dataReleaseMaintenancePlan': `The dataset expires on ${input.expiresAt}: its KMS grants are retired then and nothing of it can be decrypted. It is never rebuilt in place.`,
    'cr:consentNotices': Object.entries(input.notices).map(([version, sha256]) => ({ version, sha256 })),
  };
}

export function markdownCard(input: DatasetCardInput): string {
  const rows = Object.entries(input.counts.scopes).map(([scope, c]) => `| ${scope} | ${c.employees} | ${c.objects} | ${c.events} |`);
  const notices = Object.entries(input.notices).map(([version, sha256]) => `- \`${version}\` (SHA-256 \`${sha256}\`)`);
  return [
    `# Dataset ${input.datasetId}`,
    '',
    `**Purpose:** ${input.purpose}`,
    '',
    `**Time range:** ${input.from} to ${input.to}  `,
    `**Created:** ${input.createdAt}  `,
    `**Expires:** ${input.expiresAt} (its grants are retired then; nothing of it decrypts afterwards)`,
    '',
    `${input.counts.employees} employees, ${input.counts.objects} objects, ${input.counts.events} events.`,
    '',
    '| scope | employees | objects | events |',
    '|---|---|---|---|',
    ...rows,
    '',
    '## Consent',
    '',
    'Every record was captured while its employee consented to its scope and had not paused. Each manifest line names the consent it rests on (ledger sequence, notice version, notice SHA-256). An employee who withdraws consent is removed at once: their records read as `withdrawn`; the manifest is not rewritten.',
    '',
    'Notices in this dataset:',
    '',
    ...notices,
    '',
    '## Redaction applied before encryption',
    '',
    ...REDACTION_RULES.map((rule) => `- ${rule}`),
    '',
    '## Use restrictions',
    '',
    `- Use only for the purpose above: ${input.purpose}`,
    ...PROHIBITED_USES.map((use) => `- ${use}`),
    '',
  ].join('\n');
}
