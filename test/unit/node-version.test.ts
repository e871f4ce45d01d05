// The Node version check every command runs first: Node 18 must hear which version it needs
// rather than fail later with "crypto is not defined".
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MINIMUM_NODE_MAJOR, nodeVersionProblem } from '../../local/node-version.js';

describe('nodeVersionProblem', () => {
  it.each(['20.0.0', '20.20.2', '22.23.3', '24.21.0', 'v24.0.0'])('accepts %s', (version) => {
    expect(nodeVersionProblem(version)).toBeUndefined();
  });

  it.each(['18.20.4', '16.0.0', 'v19.9.0', 'garbage'])('names the required and the running version for %s', (version) => {
    expect(nodeVersionProblem(version)).toBe(
      `Node.js >= ${MINIMUM_NODE_MAJOR} required, you have ${version}: install Node 20, 22 or 24 (the Lambda functions run on nodejs24.x)`,
    );
  });

  it('stops a command at import, in one line with exit code 1, when the running Node is too old', () => {
    // Arrange: the running version as Node 18 reports it.
    const script = "Object.defineProperty(process.versions, 'node', { value: '18.20.4' }); await import('./local/node-version.ts');";

    // Act
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });

    // Assert
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('consent-capture: Node.js >= 20 required, you have 18.20.4: install Node 20, 22 or 24 (the Lambda functions run on nodejs24.x)\n');
  });
});
