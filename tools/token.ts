// `npm run --silent token -- --employee <id> --scope "<space separated>" [--ttl <seconds>]`
// (or `--subject <sub>` instead of `--employee` for a caller who is not an employee, such as HR).
// Prints an RS256 JWT from the local issuer (created by `npm start`), for curl and the agent. It reads
// `.local/issuer.json`, or the one under LOCAL_DIR (or --dir) when the stack runs elsewhere.
import '../local/node-version.js';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { API_SCOPES } from '../contract/vocabulary.js';
import { IssuerMissingError, loadIssuer } from '../local/issuer.js';

const USAGE = 'usage: npm run --silent token -- --employee <id> | --subject <sub> --scope "<space separated scopes>" [--ttl <seconds>]';
const EMPLOYEE_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** What the consent function accepts as a non-employee caller's `sub` (lambdas/shared/http.ts). */
const SUBJECT = /^[\x21-\x7e]{1,255}$/;
const MAX_TTL_SECONDS = 7 * 24 * 3600;

function usageError(message: string): never {
  process.stderr.write(`token: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let values: { employee?: string; subject?: string; scope?: string; ttl?: string; dir?: string };
try {
  ({ values } = parseArgs({
    options: {
      employee: { type: 'string' },
      subject: { type: 'string' },
      scope: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
      dir: { type: 'string', default: process.env['LOCAL_DIR'] ?? '.local' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  usageError(error instanceof Error ? error.message : 'bad arguments');
}

const { employee, subject, scope, ttl = '3600', dir = '.local' } = values;
if (employee !== undefined && subject !== undefined) usageError('give --employee or --subject, not both');
if (employee === undefined && subject === undefined) usageError('--employee is required (or --subject for a caller who is not an employee, such as HR)');
if (employee !== undefined && !EMPLOYEE_ID.test(employee)) usageError(`--employee ${JSON.stringify(employee.slice(0, 80))} is not an id: use 1-64 of A-Z a-z 0-9 _ -`);
if (subject !== undefined && !SUBJECT.test(subject)) usageError(`--subject ${JSON.stringify(subject.slice(0, 80))} is not a subject: use 1-255 printable characters without spaces`);
if (scope === undefined) usageError(`--scope is required (one or more of: ${API_SCOPES.join(', ')})`);
const scopes = scope.split(/\s+/).filter((s) => s !== '');
if (scopes.length === 0) usageError(`--scope is empty; give one or more of: ${API_SCOPES.join(', ')}`);
const unknown = scopes.filter((s) => !(API_SCOPES as readonly string[]).includes(s));
if (unknown.length > 0) usageError(`unknown scope ${unknown.map((s) => JSON.stringify(s.slice(0, 40))).join(', ')}; known scopes: ${API_SCOPES.join(', ')}`);
if (!/^\d+$/.test(ttl) || Number(ttl) < 1 || Number(ttl) > MAX_TTL_SECONDS) {
  usageError(`--ttl ${JSON.stringify(ttl.slice(0, 20))} is not a lifetime: use whole seconds from 1 to ${MAX_TTL_SECONDS}`);
}

try {
  const issuer = await loadIssuer(resolve(dir));
  const token = await issuer.mint({ subject: employee ?? subject ?? '', scope: [...new Set(scopes)].join(' '), ttlSeconds: Number(ttl) });
  process.stdout.write(`${token}\n`);
} catch (error) {
  if (error instanceof IssuerMissingError) {
    process.stderr.write(`token: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
