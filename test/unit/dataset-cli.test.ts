// The dataset CLI's usage errors: exit 2 with one line and the usage, before any AWS call.
import { describe, expect, it } from 'vitest';
import { runDatasetCli } from '../../datasets/cli.js';

async function run(args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const io = { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) > 0 } } as unknown as Parameters<typeof runDatasetCli>[1];
  return { code: await runDatasetCli(args, io), err: err.join('') };
}

describe('npm run dataset usage', () => {
  it.each([
    [['list', 'm.jsonl'], 'expected: read <manifest>'],
    [['read'], 'expected: read <manifest>'],
    [['read', 'm.jsonl', '--nope'], "Unknown option '--nope'"],
    [['read', 'm.jsonl', '--concurrency', '0', '--key-account', '123456789012'], '--concurrency must be a positive whole number, not 0'],
    [['read', 'm.jsonl', '--key-account', '12345'], '--key-account must be a 12-digit AWS account id, not 12345'],
    [['read', 'm.jsonl'], '--key-account <12 digits> is needed'],
    [['read', 'm.jsonl', '--principal', 'export'], '--principal needs --local-stack'],
    [['read', 'm.jsonl', '--local-stack', '/nonexistent/stack.json', '--principal', 'export'], "/nonexistent/stack.json is not a local stack's stack.json"],
    [['read', 's3://bucket-only', '--key-account', '123456789012'], 'not an s3://bucket/key url'],
  ])('%j exits 2: %s', async (args, message) => {
    const { code, err } = await run(args);
    expect(code).toBe(2);
    expect(err).toContain(message);
    expect(err).toContain('usage: npm run dataset -- read');
  });
});
