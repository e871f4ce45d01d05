// One structured logger per function (Powertools). Log ids, counts and durations only: never
// request bodies, captured events or key material.
import { Logger } from '@aws-lambda-powertools/logger';

export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName: `consent-capture-${serviceName}` });
}
