// Redaction before encryption: drops secure-field keystrokes and masks card numbers, emails and
// credential shapes in free text (`text`, `title`) and in `app`, so they never reach storage,
// exports or training data.
//
// It runs on every event of every batch, so every pattern is compiled once here and is linear:
// each one starts only at the beginning of a run of its own characters (a lookbehind on that
// class), and its quantified parts are separated by characters they cannot match, so a failed
// attempt costs at most the length of one run. test/unit/ingest-redaction.test.ts checks it on
// adversarial 4 KiB inputs.
//
// Heuristics and their trade-offs (the tests hold a true- and a false-positive table for each):
// - card: 13-19 digits, either contiguous or in groups split by one space, tab, dot or dash (first group of
//   4 digits, the others of 3-6, one separator kind; a tab is what the agent records between the
//   boxes of a card form). It must pass Luhn and start with 2-6 (the
//   major networks: Mastercard, Visa, Amex, Diners, JCB, Discover, UnionPay, Maestro). Digits
//   glued to letters are not candidates. Inside a longer run of digit groups the longest
//   card-shaped span is masked. Misses: cards starting with 1, 7, 8, 9 (UATP and private
//   labels); cards split across two events or by other separators. Masks by mistake: ~10% of
//   card-shaped numbers starting with 2-6 (for example a list of four years); epoch
//   milliseconds and most phone numbers start with 0 or 1 or have short groups, so they stay.
// - email: a conventional address with a dotted domain and an alphabetic TLD, in any script
//   (`josé@exämple.de`, `用户@例子.广告`). Quoted local parts and IP-literal domains are not masked.
// - aws-access-key: AKIA or ASIA and 16 upper-case letters or digits, not glued to a longer word.
// - jwt: `eyJ` + at least 10 base64url characters, a dot, a payload of at least 2, a dot and an
//   optional signature, not starting inside a word (so `heyJude` is not one).
// - github-token: ghp_, gho_, ghu_, ghs_, ghr_ + at least 20 letters or digits; github_pat_ + 20+.
// - slack-token: xoxa-, xoxb-, xoxp-, xoxr-, xoxs- + at least 10 letters, digits or dashes.
// - secret (hex): at least 32 hex digits (an optional 0x) holding both a digit and a letter, so a
//   long decimal number is kept. This masks MD5/SHA digests and dashless UUIDs too, including
//   full 40-digit git commit SHAs: a digest cannot be told from a hex API key. Short SHAs (7-12)
//   are kept. A canonical UUID (8-4-4-4-12 with dashes) is kept: it is an identifier in URLs,
//   tickets and logs far more often than a credential, and no dash-separated part is 32 long.
//   The cost is that UUID-shaped API keys (e.g. Heroku's) are not masked.
// - secret (base64): a run of at least 40 characters of the base64 and base64url alphabets
//   (A-Z a-z 0-9 + / _ -, optional = padding) that holds an upper-case letter, a lower-case
//   letter and a digit, and whose character classes change often: among adjacent letter/digit
//   pairs at least 35% change class (upper/lower/digit). Random base64 changes class in ~62% of
//   pairs; prose, paths and most identifiers in well under 35%. Measured with this module on
//   random tokens: misses ~0.2% of 40-character ones (mostly those without a digit), <0.1% at
//   48 and ~0.01% at 64. On ~50,000 distinct 40+ character runs from the source and docs in
//   node_modules it masked 18 (besides 113 full git SHAs, masked by the hex rule): mostly real
//   base64 (keys, source maps, document ids) and a few long camelCase identifiers with digits
//   (`isCfnApplicationCloudWatchLoggingOptionV2`).
//   A run with slashes is judged whole first (a piece of random base64 can look like a word, so
//   judging pieces first would leak them); if the whole does not qualify, single-case words at
//   either end (URL path words) are set aside and the rest is judged, then each part alone. So a
//   token in a URL may take a few neighbouring path words with it.
//   AWS secret access keys (exactly 40 of A-Z a-z 0-9 + /) are also masked without the
//   class-change test when "aws" or "secret" (any case) appears in the 48 characters before them.
//   Misses: secrets shorter than 40 characters (unless of a shape above), single-case secrets,
//   and base32 secrets.
// - Normalisation: a text that holds non-ASCII characters, a %XX escape, an HTML entity or an
//   `[at]`/`[dot]` is also judged in normalised form: NFKC (full-width digits and `＠`, no-break
//   spaces become plain), zero-width and other invisible characters removed (Unicode's format and
//   default-ignorable characters, tags included), combining marks on an ASCII character removed
//   (`4̲1̲1̲1̲` reads as 4111; also on dashes and other scripts' digits, which are read as ASCII
//   first), dashes of any kind (U+2010-2015, minus U+2212) read as `-`, one level of
//   percent- and HTML-entity decoding, decimal digits of other scripts (Arabic-Indic, Devanagari,
//   …) read as ASCII digits, `[at]`/`(at)`/`{at}` and `[dot]`... read as `@` and `.`.
//   What is stored: the text as typed, masked, unless the normalised form reveals a secret the
//   typed form hides; then the normalised text, masked, is stored. So typed text keeps its exact
//   characters (a developer's `&lt;div&gt;` or a URL's `%20` stay as typed), and a secret is never
//   stored in any encoding that was recognised. Mapping masks back onto the typed text instead
//   would need an offset map through every decoding layer, where a bug would leak the original.
//   Not decoded: a second level of encoding (`%2540`), base64, and words such as ` at ` / ` dot `
//   without brackets (too common in prose).
import type { CaptureEvent } from './schemas.js';

export const REDACTION_KINDS = ['card', 'email', 'aws-access-key', 'jwt', 'github-token', 'slack-token', 'secret'] as const;
export type RedactionKind = (typeof REDACTION_KINDS)[number];

export interface RedactedText {
  readonly text: string;
  /** Masked occurrences in this text. */
  readonly count: number;
}

export interface RedactionResult {
  /** Fresh event objects; the input events and array are never modified. */
  readonly events: CaptureEvent[];
  /** Masked occurrences plus dropped events. */
  readonly redactions: number;
  /** Events dropped whole (secure-field keystrokes). */
  readonly dropped: number;
}

export function mask(kind: RedactionKind): string {
  return `[REDACTED:${kind}]`;
}

/** Luhn checksum over a string of ASCII digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** One masking rule: a global pattern and a replacer that may keep (part of) a candidate. */
interface Rule {
  readonly kind: RedactionKind;
  readonly pattern: RegExp;
  /** A cheap test that the text may hold a match at all; skips the regex scan on most texts. */
  readonly mayContain: (text: string) => boolean;
  /** Whether a match needs a {@link LONG_RUN} (the hex and base64 secrets): one scan decides it for both. */
  readonly needsLongRun?: true;
  /** Returns the replacement and how many masks it holds; undefined keeps the candidate. */
  readonly replace?: (candidate: string, offset: number, input: string) => RedactedText | undefined;
}

const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;
const GITHUB_TOKEN = /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g;
const SLACK_TOKEN = /(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,}/g;
const AWS_ACCESS_KEY = /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;
const EMAIL = /(?<![\p{L}\p{M}\p{N}._%+-])[\p{L}\p{M}\p{N}._%+-]+@(?:[\p{L}\p{M}\p{N}-]+\.)+[\p{L}\p{M}]{2,63}(?![\p{L}\p{M}\p{N}-])/gu;
const HEX = /(?<![A-Za-z0-9])(?:0x)?[0-9a-fA-F]{32,}(?![A-Za-z0-9])/g;
const BASE64 = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{40,}={0,2}/g;
/**
 * A run of at least 32 characters of the base64 alphabet. Every HEX match lies inside one (hex
 * digits and `0x` are in the alphabet) and so does every BASE64 match (40+), so a text without one
 * skips both scans: most typed text is prose, whose runs end at the next space. (The start of a
 * run as a character rather than a lookbehind: the same answer, measured ~25% faster in V8.)
 */
const LONG_RUN = /(?:^|[^A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32}/;
/** Runs of digit groups split by single spaces, tabs, dots or dashes; which spans are cards is decided in code. */
const DIGIT_GROUPS = /(?<![A-Za-z0-9])\d+(?:[ \t.-]\d+)*(?![A-Za-z0-9])/g;

const HAS_DIGIT = /\d/;
const HAS_HEX_LETTER = /[a-fA-F]/;
const AWS_SECRET_SHAPE = /^[A-Za-z0-9+/]{40}$/;
const AWS_SECRET_CONTEXT = /aws|secret/i;
const AWS_SECRET_CONTEXT_CHARS = 48;
/** A URL-path word: one case (or none), as opposed to a base64 piece that mixes cases. */
const PATH_WORD = /^(?:[a-z0-9_-]*|[A-Z0-9_-]*)$/;
const MIN_HEX_SECRET = 32;
const MIN_BASE64_SECRET = 40;
const MIN_CLASS_CHANGE_RATIO = 0.35;

const UPPER = 1;
const LOWER = 2;
const DIGIT = 3;
function charClass(code: number): number {
  if (code >= 65 && code <= 90) return UPPER;
  if (code >= 97 && code <= 122) return LOWER;
  if (code >= 48 && code <= 57) return DIGIT;
  return 0;
}

/** The base64 heuristic: all three classes present, and classes change in >= 35% of alphanumeric pairs. */
export function looksRandomBase64(run: string): boolean {
  let upper = false;
  let lower = false;
  let digit = false;
  let pairs = 0;
  let changes = 0;
  let previous = 0;
  for (let i = 0; i < run.length; i++) {
    const c = charClass(run.charCodeAt(i));
    if (c === UPPER) upper = true;
    else if (c === LOWER) lower = true;
    else if (c === DIGIT) digit = true;
    if (c !== 0 && previous !== 0) {
      pairs++;
      if (c !== previous) changes++;
    }
    previous = c;
  }
  return upper && lower && digit && pairs > 0 && changes / pairs >= MIN_CLASS_CHANGE_RATIO;
}

function secretShaped(run: string, offset: number, input: string): boolean {
  if (run.length < MIN_BASE64_SECRET) return false;
  if (looksRandomBase64(run)) return true;
  return AWS_SECRET_SHAPE.test(run) && AWS_SECRET_CONTEXT.test(input.slice(Math.max(0, offset - AWS_SECRET_CONTEXT_CHARS), offset));
}

function replaceBase64(candidate: string, offset: number, input: string): RedactedText | undefined {
  const body = candidate.replace(/=+$/, '');
  // Whole first: random base64 has slashes too, and a short piece of it may look like a word, so
  // judging pieces first would leak them. Masking a few path words with a token costs less.
  if (secretShaped(body, offset, input)) return { text: mask('secret'), count: 1 };
  if (!body.includes('/')) return undefined;
  // A URL path around a token lowers the whole run's class changes: keep single-case words at
  // either end (`com`, `v1`, `CHANGELOG`) and judge what is between them, then each part alone.
  const parts = body.split('/');
  let first = 0;
  let last = parts.length - 1;
  while (first < last && PATH_WORD.test(parts[first] ?? '')) first++;
  while (last > first && PATH_WORD.test(parts[last] ?? '')) last--;
  const tail = parts.slice(last + 1);
  const padding = candidate.slice(body.length);
  const core = parts.slice(first, last + 1).join('/');
  const coreOffset = offset + parts.slice(0, first).reduce((n, part) => n + part.length + 1, 0);
  if (secretShaped(core, coreOffset, input)) {
    // Padding belongs to the last part: it goes with a masked one, and stays after a kept word.
    return { text: [...parts.slice(0, first), mask('secret'), ...tail].join('/') + (tail.length > 0 ? padding : ''), count: 1 };
  }
  let count = 0;
  const judged = parts.map((part) => {
    if (part.length < MIN_BASE64_SECRET || !looksRandomBase64(part)) return part;
    count++;
    return mask('secret');
  });
  const lastMasked = judged[judged.length - 1] === mask('secret');
  return count === 0 ? undefined : { text: judged.join('/') + (lastMasked ? '' : padding), count };
}

const MIN_CARD_DIGITS = 13;
const MAX_CARD_DIGITS = 19;
const CARD_SEPARATOR = /[ \t.-]/;
const CARD_SEPARATORS = /[ \t.-]/g;

/** Major networks issue numbers starting with 2 to 6. */
function startsLikeCard(group: string): boolean {
  const code = group.charCodeAt(0);
  return code >= 50 && code <= 54;
}

/**
 * Masks every card-number span in a run of digit groups, leftmost first and longest at each start.
 * A span is one group, or groups laid out like a printed card: a first group of 4 digits, then
 * groups of 3-6, all split by the same separator. That layout is prefix-closed, so the search
 * from a group stops at the first group that breaks it: at most 19 digits' worth of groups.
 */
function replaceCards(candidate: string): RedactedText | undefined {
  if (candidate.length < MIN_CARD_DIGITS) return undefined;
  const groups = candidate.split(CARD_SEPARATOR);
  const separators = candidate.match(CARD_SEPARATORS) ?? [];
  const out: string[] = [];
  let count = 0;
  let i = 0;
  while (i < groups.length) {
    const head = groups[i] ?? '';
    let best = -1;
    if (startsLikeCard(head)) {
      let digits = 0;
      for (let j = i; j < groups.length; j++) {
        const group = groups[j] ?? '';
        digits += group.length;
        if (digits > MAX_CARD_DIGITS) break;
        if (j > i && (head.length !== 4 || group.length < 3 || group.length > 6 || separators[j - 1] !== separators[i])) break;
        if (digits >= MIN_CARD_DIGITS && luhnValid(groups.slice(i, j + 1).join(''))) best = j;
      }
    }
    if (i > 0) out.push(separators[i - 1] ?? '');
    if (best >= 0) {
      out.push(mask('card'));
      count++;
      i = best + 1;
    } else {
      out.push(head);
      i++;
    }
  }
  return count === 0 ? undefined : { text: out.join(''), count };
}

function replaceHex(candidate: string): RedactedText | undefined {
  const digits = candidate.startsWith('0x') ? candidate.slice(2) : candidate;
  return HAS_DIGIT.test(digits) && HAS_HEX_LETTER.test(digits) ? { text: mask('secret'), count: 1 } : undefined;
}

// Specific shapes first, so a JWT or a token is named as such before the generic secret rules see
// its base64, and cards last, once digits inside tokens are masked.
const RULES: readonly Rule[] = [
  { kind: 'jwt', pattern: JWT, mayContain: (t) => t.includes('eyJ') },
  { kind: 'github-token', pattern: GITHUB_TOKEN, mayContain: (t) => t.includes('gh') || t.includes('github_pat_') },
  { kind: 'slack-token', pattern: SLACK_TOKEN, mayContain: (t) => t.includes('xox') },
  { kind: 'aws-access-key', pattern: AWS_ACCESS_KEY, mayContain: (t) => t.includes('AKIA') || t.includes('ASIA') },
  { kind: 'email', pattern: EMAIL, mayContain: (t) => t.includes('@') },
  { kind: 'secret', pattern: HEX, mayContain: (t) => t.length >= MIN_HEX_SECRET, needsLongRun: true, replace: replaceHex },
  { kind: 'secret', pattern: BASE64, mayContain: (t) => t.length >= MIN_BASE64_SECRET, needsLongRun: true, replace: replaceBase64 },
  { kind: 'card', pattern: DIGIT_GROUPS, mayContain: (t) => t.length >= MIN_CARD_DIGITS && HAS_DIGIT.test(t), replace: replaceCards },
];

/** Whether `text` may read differently once normalised; most typed text is plain ASCII and skips it. */
const MAY_NEED_NORMALISING = /[^\x00-\x7F]|%[0-9A-Fa-f]{2}|&#?[A-Za-z0-9]{1,8};|[[({]\s*(?:at|dot)\s*[\])}]/i;
/**
 * Zero-width and other invisible characters: every format character (soft hyphen, joiners, bidi
 * controls, BOM, the tag characters of "ASCII smuggling", interlinear anchors) and every default
 * ignorable one (fillers, variation selectors), by Unicode property rather than a hand-kept list,
 * which missed the tags.
 */
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;
/** A decimal digit of another script (Arabic-Indic, Devanagari, …) that NFKC leaves as it is. */
const OTHER_SCRIPT_DIGIT = /(?![0-9])\p{Nd}/gu;
const DECIMAL_DIGIT = /^\p{Nd}$/u;
const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
const PERCENT_BYTE = /%([0-9A-Fa-f]{2})/g;
const ENTITY = /&(?:#([0-9]{1,7})|#[xX]([0-9A-Fa-f]{1,6})|([A-Za-z]{2,8}));/g;
const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00A0', commat: '@', period: '.', num: '#', percnt: '%', plus: '+', hyphen: '-', dash: '-', lowbar: '_',
};
/** Combining marks on an ASCII character: NFKC composes none of them, and the character still reads through them. */
const MARK_ON_ASCII = /([\x00-\x7F])\p{M}+/gu;
/** Hyphens and dashes of every kind, and the minus sign, as a card's group separator `-`. */
const ANY_DASH = /[\p{Pd}\u2212]/gu;
const OBFUSCATED_AT = /\s*[[({]\s*at\s*[\])}]\s*/gi;
const OBFUSCATED_DOT = /\s*[[({]\s*dot\s*[\])}]\s*/gi;
/** Both need an opening bracket; without one their scans (which start at every space) are skipped. */
const OPENING_BRACKET = /[[({]/;

function decodePercent(run: string): string {
  try {
    return decodeURIComponent(run);
  } catch {
    // Not UTF-8: decode the ASCII bytes only, which is all an address or a number needs.
    return run.replace(PERCENT_BYTE, (escape: string, hex: string) => {
      const byte = Number.parseInt(hex, 16);
      return byte < 0x80 ? String.fromCharCode(byte) : escape;
    });
  }
}

function decodeEntity(entity: string, decimal: string | undefined, hex: string | undefined, name: string | undefined): string {
  if (name !== undefined) return NAMED_ENTITIES[name.toLowerCase()] ?? entity;
  const code = decimal !== undefined ? Number.parseInt(decimal, 10) : Number.parseInt(hex ?? '', 16);
  if (!Number.isInteger(code) || code <= 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return entity;
  return String.fromCodePoint(code);
}

/**
 * The ASCII digit a decimal digit of any script stands for. Unicode lays out every script's digits
 * as runs of ten code points from zero (adjacent runs included), so the value is the distance from
 * the start of the run, modulo ten. At most 60 steps back (the longest run).
 */
function asciiDigit(digit: string): string {
  const code = digit.codePointAt(0) ?? 0;
  let zero = code;
  while (DECIMAL_DIGIT.test(String.fromCodePoint(zero - 1))) zero--;
  return String.fromCharCode(48 + ((code - zero) % 10));
}

/** The text as a reader would see it once decoded; see the top of the module. Linear. */
export function normaliseText(text: string): string {
  const nfkc = text.normalize('NFKC');
  const decoded = nfkc.replace(INVISIBLE, '').replace(PERCENT_RUN, decodePercent).replace(ENTITY, decodeEntity);
  // Decoding can produce characters that need NFKC or are invisible (`%EF%BC%94` is `４`); so can
  // removing an invisible character between a letter and a mark. Each step only shortens the text
  // or leaves it as it is, so when `decoded` equals `nfkc` none changed anything: it is NFKC's
  // output with nothing invisible, and NFKC is idempotent.
  const plain = decoded === nfkc ? decoded : decoded.normalize('NFKC').replace(INVISIBLE, '');
  // Dashes and other scripts' digits become ASCII first, so a mark on one of them goes too.
  const ascii = plain.replace(ANY_DASH, '-').replace(OTHER_SCRIPT_DIGIT, asciiDigit).replace(MARK_ON_ASCII, '$1');
  return OPENING_BRACKET.test(ascii) ? ascii.replace(OBFUSCATED_AT, '@').replace(OBFUSCATED_DOT, '.') : ascii;
}

/**
 * Masks every recognised secret in `text`, as typed and as normalised (see the top of the module).
 * Pure; linear in the length of `text`.
 */
export function redactText(text: string): RedactedText {
  const typed = maskRecognised(text);
  if (!MAY_NEED_NORMALISING.test(typed.text)) return typed;
  // Masks are plain ASCII, so they survive normalisation; only what it reveals is new.
  const normalised = normaliseText(typed.text);
  if (normalised === typed.text) return typed;
  const revealed = maskRecognised(normalised);
  return revealed.count === 0 ? typed : { text: revealed.text, count: typed.count + revealed.count };
}

function maskRecognised(text: string): RedactedText {
  let current = text;
  let count = 0;
  // Decided once, at the first rule that needs it. Exact for the next one: when there is no long
  // run, the rule before was skipped, so the text it is tested on has not changed.
  let longRun: boolean | undefined;
  for (const rule of RULES) {
    if (!rule.mayContain(current)) continue;
    if (rule.needsLongRun === true && !(longRun ??= LONG_RUN.test(current))) continue;
    const replace = rule.replace;
    // No pattern has a capture group, so the callback's second and third arguments are the
    // candidate's offset and the whole input.
    current = current.replace(rule.pattern, (candidate: string, offset: number, input: string) => {
      if (replace === undefined) {
        count++;
        return mask(rule.kind);
      }
      const replaced = replace(candidate, offset, input);
      if (replaced === undefined) return candidate;
      count += replaced.count;
      return replaced.text;
    });
  }
  return { text: current, count };
}

/**
 * Drops secure-field keystrokes and masks `text` (keystroke), `title` (app-focus) and `app` (every
 * kind). Other fields (ts, x, y, button) are copied unchanged. Order is kept.
 *
 * `app` is masked like free text rather than restricted to an identifier character set: a batch
 * is refused whole on a 400, and agents report app names as the OS gives them (localised display
 * names with `’`, `:`, `&` or any script), so a character set would refuse real capture without
 * stopping free text (a sentence of letters and spaces fits any such set). Masking removes the
 * shapes that matter (addresses, card numbers, tokens) whatever consent the event rides on.
 */
export function redactEvents(events: readonly CaptureEvent[]): RedactionResult {
  const out: CaptureEvent[] = [];
  let redactions = 0;
  let dropped = 0;
  // redactText is pure, and a batch repeats its app names and window titles on most events.
  const seen = new Map<string, RedactedText>();
  const redactOnce = (text: string): RedactedText => {
    let redacted = seen.get(text);
    if (redacted === undefined) {
      redacted = redactText(text);
      seen.set(text, redacted);
    }
    return redacted;
  };
  for (const original of events) {
    let event = original;
    if (original.app !== undefined) {
      const app = redactOnce(original.app);
      if (app.count > 0) {
        redactions += app.count;
        event = { ...original, app: app.text };
      }
    }
    switch (event.kind) {
      case 'keystroke': {
        if (event.secureField === true) {
          redactions++;
          dropped++;
          break;
        }
        const { text, count } = redactOnce(event.text);
        redactions += count;
        out.push({ ...event, text });
        break;
      }
      case 'app-focus': {
        if (event.title === undefined) {
          out.push({ ...event });
          break;
        }
        const { text, count } = redactOnce(event.title);
        redactions += count;
        out.push({ ...event, title: text });
        break;
      }
      case 'click':
        out.push({ ...event });
        break;
    }
  }
  return { events: out, redactions, dropped };
}
