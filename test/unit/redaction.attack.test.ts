// Attacks on redaction's normalisation (lambdas/ingest/redaction.ts): text a reader sees as an
// address or a card number, written so that the typed form and the normalised form both hide it.
import { describe, expect, it } from 'vitest';
import { mask, redactText } from '../../lambdas/ingest/redaction.js';

describe('redactText sees through invisible characters beyond the hand-kept list', () => {
  it.each([
    ['a Unicode tag character (ASCII smuggling) inside the domain', 'write to jane@\u{E0041}example.com today'],
    ['a tag character before the @', 'write to jane\u{E0020}@example.com today'],
    ['an interlinear annotation anchor', 'write to jane\uFFF9@example.com today'],
    ['a shorthand format control', 'write to jane@exa\u{1BCA0}mple.com today'],
  ])('masks an email split by %s', (_, text) => {
    expect(redactText(text).text).toBe(`write to ${mask('email')} today`);
  });
});

describe('redactText reads card numbers typed in other scripts’ digits', () => {
  it.each([
    ['Arabic-Indic', '٤١١١١١١١١١١١١١١١'],
    ['Extended Arabic-Indic (Persian)', '۴۱۱۱ ۱۱۱۱ ۱۱۱۱ ۱۱۱۱'],
    ['Devanagari', '४१११-११११-११११-११११'],
    ['Bengali', '৪১১১১১১১১১১১১১১১'],
  ])('masks a Visa test number in %s digits', (_, digits) => {
    expect(redactText(`card ${digits} ok`).text).toBe(`card ${mask('card')} ok`);
  });

  it('keeps a non-card number in those digits as typed', () => {
    expect(redactText('order ٤١١١١١١١١١١١١١١٢ ok').text).toBe('order ٤١١١١١١١١١١١١١١٢ ok');
  });
});

describe('redactText reads through combining marks on ASCII characters', () => {
  const under = (s: string): string => [...s].map((c) => `${c}\u0332`).join('');
  it.each([
    ['a card with a mark on its first digit', '4\u0303111 1111 1111 1111', mask('card')],
    ['a card with every digit underlined', under('4111111111111111'), mask('card')],
    ['an AWS access key with a mark inside', 'AKIA\u0332IOSFODNN7EXAMPLE', mask('aws-access-key')],
    ['a GitHub token with a mark after its prefix', 'ghp_\u0332a1B2c3D4e5F6g7H8i9J0k1L2', mask('github-token')],
    ['a hex key with a mark in the middle', '0123456789abcdef\u03320123456789abcdef', mask('secret')],
  ])('masks %s', (_, secret, masked) => {
    expect(redactText(`see ${secret} now`).text).toBe(`see ${masked} now`);
  });

  it('keeps accented prose as typed', () => {
    expect(redactText('Ce\u0301line a re\u0301pondu').text).toBe('Ce\u0301line a re\u0301pondu');
  });
});

describe('redactText reads card groups split the ways people and agents type them', () => {
  it.each([
    ['tabs (the agent records Tab between the boxes of a card form)', '4111\t1111\t1111\t1111'],
    ['Unicode hyphens (U+2010)', '4111\u20101111\u20101111\u20101111'],
    ['non-breaking hyphens (U+2011)', '4111\u20111111\u20111111\u20111111'],
    ['en dashes', '4111\u20131111\u20131111\u20131111'],
    ['minus signs', '4111\u22121111\u22121111\u22121111'],
  ])('masks a Visa test number split by %s', (_, card) => {
    expect(redactText(`card ${card} ok`).text).toBe(`card ${mask('card')} ok`);
  });

  it('keeps tab-separated numbers that are no card', () => {
    expect(redactText('2024\t2025\t2026\t2027').text).toBe('2024\t2025\t2026\t2027');
  });
});

// Was a hole: marks were removed only after an ASCII character, before dashes and other scripts'
// digits were read as ASCII, so a mark on an Arabic-Indic digit or on an en dash kept the card
// apart in the normalised form too, though each disguise alone was read through.
describe('redactText reads through combining marks on other scripts’ digits and on dashes', () => {
  it.each([
    ['Arabic-Indic digits, each underlined', [...'٤١١١١١١١١١١١١١١١'].map((c) => `${c}\u0332`).join('')],
    ['Devanagari digits with a mark on the first', '४\u0303१११-११११-११११-११११'],
    ['en dashes, each with a mark', '4111\u2013\u03321111\u2013\u03321111\u2013\u03321111'],
  ])('masks a Visa test number in %s', (_, card) => {
    expect(redactText(`card ${card} ok`).text).toBe(`card ${mask('card')} ok`);
  });
});
