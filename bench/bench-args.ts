// Flag parsing shared by the benchmarks: an unknown or malformed flag prints one line and the
// usage, and exits 2, instead of a stack trace.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export function parseBenchArgs<O extends NonNullable<ParseArgsConfig['options']>>(bench: string, options: O, usage: string) {
  try {
    return parseArgs({ options, strict: true, allowPositionals: false });
  } catch (error) {
    process.stderr.write(`${bench}: ${error instanceof Error ? error.message : String(error)}\nusage: npm run ${bench} -- ${usage}\n`);
    process.exit(2);
  }
}
