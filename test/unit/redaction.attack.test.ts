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
