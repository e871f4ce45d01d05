// Reading the environment variables each function needs at module load. Their names are declared
// in the application contract (contract/environment.ts), which the CDK app and local stack set.
import { ENV, type EnvName } from '../../contract/environment.js';

export { ENV, type EnvName };

export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

/** Reads a required variable; a missing one fails at module load, before the first request. */
export function requireEnv(name: EnvName, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigurationError(`environment variable ${name} is required but not set`);
  return value;
}

export function optionalEnv(name: EnvName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Seconds between a withdrawal or an erasure and its delayed sweep of the objects (0-900, SQS's
 * longest delay). Default 360: ingest's timeout plus KMS's worst-case policy propagation.
 */
export function resweepSecondsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = optionalEnv(ENV.purgeResweepSeconds, env);
  const seconds = Number(raw ?? '360');
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 900) {
    throw new ConfigurationError(`${ENV.purgeResweepSeconds} must be a whole number of seconds from 0 to 900 (SQS's longest delay), got ${String(raw)}`);
  }
  return seconds;
}
