// Imported first by every command (npm start, npm run kms, the tools), so that an old Node says
// which version it needs instead of failing later with "crypto is not defined".
// It uses nothing newer than Node 12 itself.

/** The oldest major this project runs on (the Web Crypto global, `--import`, fetch). */
export const MINIMUM_NODE_MAJOR = 20;

/** A sentence for people when `version` (as in process.versions.node) is too old; undefined when it will do. */
export function nodeVersionProblem(version: string): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1] ?? NaN);
  if (Number.isInteger(major) && major >= MINIMUM_NODE_MAJOR) return undefined;
  return `Node.js >= ${MINIMUM_NODE_MAJOR} required, you have ${version}: install Node ${MINIMUM_NODE_MAJOR}, 22 or 24 (the Lambda functions run on nodejs24.x)`;
}

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`consent-capture: ${problem}\n`);
  process.exit(1);
}
