// Realistic POST /v1/events bodies for bench:ingest: 1,000 events of typing bursts, clicks and
// app focus changes with window titles, seeded so every run sends the same bytes, with a few
// strings the redaction must mask (emails in titles, a card number, tokens, secure fields).

/** A small seeded PRNG (mulberry32): the same seed gives the same batches on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the a to of and in that is for it on with as was this be at by not are from or have an they which one you had ' +
  'we all there can their has been if more when will would who so no out up into do about than them then some could ' +
  'plan draft review meeting customer release deadline budget quarter roadmap ticket deploy rollback feature test ' +
  'config service latency error retry queue batch export consent key policy team update thanks please sounds good ' +
  'tomorrow today morning afternoon friday monday schedule call notes agenda summary follow-up décision café naïve'
).split(' ');

const CODE_LINES = [
  'const result = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));',
  'if (events.length === 0) return { stored: {}, refused: {}, redacted: 0 };',
  'for (const [scope, events] of groupByScope(batch.events)) {',
  'git commit -m "fix: retry the claim once when it was released between write and read"',
  'SELECT eventname, count(*) FROM cloudtrail_logs WHERE eventsource = \'kms.amazonaws.com\' GROUP BY 1;',
  'npm run test -- --reporter=verbose test/unit/ingest-redaction.test.ts',
  'export function objectKey(employeeId: string, scope: Scope, batchId: string): string {',
  'kubectl -n ingest logs deploy/ingest --since=10m | grep -c "batch processed"',
];

const CHAT_LINES = [
  'sounds good, I will send the draft after lunch 👍',
  'can we move the sync to 3pm? the release train leaves at 4',
  'lgtm, one nit on the error message wording',
  'did anyone see the latency spike around 10:40? looks like the retry storm again',
  'merci, je regarde ça demain matin',
  'the numbers for Q3 are in the shared sheet, tab "forecast v2"',
];

const URLS = [
  'https://wiki.example.internal/display/ENG/Ingest+runbook',
  'https://github.com/acme/consent-capture/pull/482/files',
  'https://console.example.internal/dashboards/ingest?from=now-1h',
  'https://docs.google.com/document/d/1xYzAbCdEfGhIjKl/edit',
];

/** Strings each of which the redaction masks at least once. */
export const REDACTABLE_SNIPPETS = [
  'please bill card 4111 1111 1111 1111 exp 12/29',
  'cc jane.doe@example.com and ops-team@corp.example.org on this',
  'export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE',
  'GITHUB_TOKEN=ghp_aB3dE6gH9jaB3dE6gH9jaB3dE6gH9jK2mN4p',
  'Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlLTQyIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  'slack webhook token xoxb-1234567890-abcdefghijklmnop',
];

const APPS = ['Visual Studio Code', 'Google Chrome', 'Slack', 'Microsoft Outlook', 'Terminal', 'Microsoft Word', 'Notion', 'zoom.us'];

const TITLES = [
  'ingest-service.ts — consent-capture',
  'Pull request #482 · acme/consent-capture · GitHub — Google Chrome',
  'Inbox (14) - jane.doe@example.com - Outlook',
  'Q3 planning.docx - Word',
  'Calendar - Outlook',
  'Untitled - Google Docs — Google Chrome',
  'Jira · ING-1204 Ingest rejects batches over 1 MiB',
  'README.md — consent-capture',
  '#team-ingest | Acme - Slack',
  'zsh — ~/src/consent-capture — 120×40',
  'Ingest runbook - Confluence',
  'Zoom Meeting',
  'Roadmap 2027 · Notion',
];

export interface GeneratedBatch {
  readonly batchId: string;
  /** The request body, exactly as the agent sends it. */
  readonly body: string;
  readonly events: number;
  readonly keystrokes: number;
  readonly clicks: number;
  readonly focus: number;
  /** Strings planted that the redaction must mask (plus dropped secure-field keystrokes). */
  readonly planted: number;
}

export interface BatchShape {
  readonly events: number;
  /** Share of keystroke events; the rest are clicks and focus changes, 3:1. @default 0.65 */
  readonly keystrokeShare?: number;
  readonly now: Date;
  /** @default - derived from the seed */
  readonly batchId?: string;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** One burst of typing of 20-200 characters: prose mostly, some code, chat lines and URLs. */
function typingBurst(random: () => number): string {
  // Longer bursts are a little more common than short ones (mean ~140 characters).
  const target = 20 + Math.floor(Math.sqrt(random()) * 181);
  const roll = random();
  let text = '';
  if (roll < 0.12) text = pick(random, CODE_LINES);
  else if (roll < 0.2) text = pick(random, CHAT_LINES);
  else if (roll < 0.25) text = `see ${pick(random, URLS)}`;
  while (text.length < target) {
    const word = pick(random, WORDS);
    text += text === '' ? word[0]?.toUpperCase() + word.slice(1) : random() < 0.08 ? `. ${word}` : ` ${word}`;
  }
  // Cut by code points: a cut through an emoji would leave a lone surrogate, which the contract refuses.
  return Array.from(text).slice(0, target).join('').trimEnd() || 'ok';
}

/**
 * A batch body of `shape.events` events spread over the minutes before `now`. About 0.5% of
 * keystrokes carry a secret-shaped string, 1% come from secure fields, and one of the thirteen
 * window titles carries an email: a handful of redactions per batch, as real typing has.
 */
export function generateBatch(seed: number, shape: BatchShape): GeneratedBatch {
  const random = seededRandom(seed);
  const keystrokeShare = shape.keystrokeShare ?? 0.65;
  const end = shape.now.getTime() - 1_000;
  let ts = end - shape.events * 180;
  let app = pick(random, APPS);
  let keystrokes = 0;
  let clicks = 0;
  let focus = 0;
  let planted = 0;
  const events: Record<string, unknown>[] = [];
  for (let n = 0; n < shape.events; n += 1) {
    ts += 60 + Math.floor(random() * 240);
    const when = new Date(Math.min(ts, end)).toISOString();
    const roll = random();
    if (roll < keystrokeShare) {
      keystrokes += 1;
      const secret = random();
      if (secret < 0.01) {
        planted += 1;
        events.push({ kind: 'keystroke', ts: when, text: 'hunter2-correct-horse', app, secureField: true });
      } else if (secret < 0.015) {
        planted += 1;
        events.push({ kind: 'keystroke', ts: when, text: pick(random, REDACTABLE_SNIPPETS), app });
      } else {
        events.push({ kind: 'keystroke', ts: when, text: typingBurst(random), app });
      }
    } else if (roll < keystrokeShare + ((1 - keystrokeShare) * 3) / 4) {
      clicks += 1;
      const button = random() < 0.92 ? 'left' : random() < 0.8 ? 'right' : 'middle';
      events.push({ kind: 'click', ts: when, x: Math.floor(random() * 3840), y: Math.floor(random() * 2160), button, app });
    } else {
      focus += 1;
      app = pick(random, APPS);
      const title = pick(random, TITLES);
      if (title.includes('@')) planted += 1;
      events.push({ kind: 'app-focus', ts: when, app, title });
    }
  }
  const batchId = shape.batchId ?? `b-bench-${seed.toString(16)}`;
  return { batchId, body: JSON.stringify({ batchId, deviceId: 'laptop-bench', events }), events: events.length, keystrokes, clicks, focus, planted };
}
