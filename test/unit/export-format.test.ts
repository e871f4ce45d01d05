// The export's line format: the JSON Schema the docs publish is exactly the one generated from the
// contract's zod schema, and it (read with Ajv, as an outside reader would) accepts a stored event
// with its origin and refuses what the format rules out. Capture keys map to the encryption
// context the worker requires.
import { describe, expect, it } from 'vitest';
import { exportLineJsonSchema } from '../../contract/export-format.js';
import { contextOfKey } from '../../lambdas/export/capture-reader.js';
import { lineSchemaErrors, publishedLineSchema } from '../support/export-lines.js';

const click = { scope: 'clicks', batchId: 'b-1', deviceId: 'laptop-1', kind: 'click', ts: 1_764_000_000_000, x: 10, y: 20, button: 'left' };

describe('the export line schema', () => {
  it('is published in docs/ exactly as the contract generates it', () => {
    expect(publishedLineSchema()).toEqual(exportLineJsonSchema());
  });

  it('accepts a stored event with its scope, batch and device, and a null device for old objects', () => {
    expect(lineSchemaErrors(click)).toBeUndefined();
    expect(lineSchemaErrors({ ...click, deviceId: null })).toBeUndefined();
    expect(lineSchemaErrors({ scope: 'keystrokes', batchId: 'b-1', deviceId: null, kind: 'keystroke', ts: 1, text: 'hi [email]', app: 'editor' })).toBeUndefined();
  });

  it.each([
    ['a kind under another scope', { ...click, scope: 'keystrokes' }],
    ['a field the format does not have', { ...click, secret: 'x' }],
    ['no batch', { ...click, batchId: undefined }],
    ['no device field at all', (({ deviceId: _d, ...rest }) => rest)(click)],
    ['a keystroke from a secure field', { scope: 'keystrokes', batchId: 'b-1', deviceId: null, kind: 'keystroke', ts: 1, text: 'x', secureField: true }],
    ['an ISO ts (stored events carry epoch ms)', { ...click, ts: '2026-11-26T12:00:00Z' }],
  ])('refuses %s', (_name, line) => {
    expect(lineSchemaErrors(JSON.parse(JSON.stringify(line)))).toBeDefined();
  });
});

describe('contextOfKey', () => {
  it('reads employee, scope and batch from a capture key', () => {
    expect(contextOfKey('captures/e-1/clicks/2026/11/26/b-9')).toEqual({ employeeId: 'e-1', scope: 'clicks', batchId: 'b-9' });
  });

  it.each(['captures/e-1/clicks/2026/11/26', 'captures/e-1/screens/2026/11/26/b-9', 'exports/e-1/clicks/2026/11/26/b-9', 'captures/e-1/clicks/2026/11/26/b 9'])('refuses %s', (key) => {
    expect(contextOfKey(key)).toBeUndefined();
  });
});
