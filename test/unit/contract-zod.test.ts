// The contract's schemas are built with zod/mini (contract/zod.ts), which has no messages of its
// own: the API must still answer with zod's English messages, as it did with zod classic. This
// file imports no zod classic, which would load the English locale for every schema by itself.
import { describe, expect, it } from 'vitest';
import { grantBody } from '../../contract/consent-requests.js';
import { exportLineJsonSchema } from '../../contract/export-format.js';
import { parseBatch } from '../../lambdas/ingest/schemas.js';

describe('the contract on zod/mini', () => {
  it('answers a malformed body with zod\'s English messages, not "Invalid input"', () => {
    // Arrange: an unknown key, a missing field and a too-short string.
    const body = { scopes: ['keystrokes'], noticeVersion: '', extra: 1 };

    // Act
    const parsed = grantBody.safeParse(body);

    // Assert
    expect(parsed.success).toBe(false);
    const messages = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    expect(messages).toEqual([
      'noticeVersion: Too small: expected string to have >=1 characters',
      'noticeVersion: use letters, digits, dot, colon, dash or underscore',
      'noticeSha256: Invalid input: expected string, received undefined',
      ': Unrecognized key: "extra"',
    ]);
  });

  it('keeps the messages the contract names itself', () => {
    const result = parseBatch({ batchId: 'b-1', deviceId: 'd-1', events: [{ kind: 'click', ts: 'yesterday', x: 0, y: 0, button: 'left' }] }, new Date());

    expect(result).toEqual({ ok: false, details: [{ path: 'events.0.ts', message: expect.stringContaining('ts must be an ISO-8601 date-time') }] });
  });

  it('describes a copy of a shared schema, not the schema itself (classic .describe())', () => {
    const schema = exportLineJsonSchema() as { $defs: Record<string, { oneOf: { properties: Record<string, { description?: string }> }[] }> };
    const click = schema.$defs['export-line']?.oneOf.find((line) => 'x' in line.properties);

    expect(click?.properties['batchId']?.description).toBe('the batch the agent sent the event in');
    // `x` is a plain integer schema: no description leaked onto it from another field.
    expect(click?.properties['x']?.description).toBeUndefined();
  });
});
