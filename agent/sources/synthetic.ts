// A synthetic input source for tests and benchmarks: keystrokes, clicks and focus changes at a set
// rate, each keystroke's text unique (`<prefix>-<n>`) so a test can find every one of them later.
import type { CaptureEvent } from '../capture-agent.js';

export interface SyntheticSource {
  stop(): void;
}

/** Calls `emit` with about `perSecond` events a second until stopped. */
export function startSyntheticSource(emit: (event: CaptureEvent) => void, options: { perSecond: number; prefix: string }): SyntheticSource {
  let n = 0;
  const everyMs = Math.max(1, Math.round(1000 / options.perSecond));
  const timer = setInterval(() => {
    n += 1;
    const ts = Date.now();
    if (n % 20 === 1) emit({ kind: 'app-focus', ts, app: 'editor', title: `draft ${Math.floor(n / 20)}` });
    else if (n % 5 === 0) emit({ kind: 'click', ts, x: n % 1000, y: (n * 7) % 800, button: 'left', app: 'editor' });
    else emit({ kind: 'keystroke', ts, text: `${options.prefix}-${n}`, app: 'editor' });
  }, everyMs);
  return { stop: () => clearInterval(timer) };
}
