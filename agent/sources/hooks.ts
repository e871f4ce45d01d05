// Real input through uiohook-napi (an optional dependency with prebuilt binaries): key presses
// become text runs on a US layout, clicks become click events, and the focused app and title come
// from get-windows when it is installed. Secure (password) fields are not visible to a global hook
// on any OS this supports, so `secureField` is never set here: the gap docs/agents.md describes.
import type { CaptureEvent } from '../capture-agent.js';
import { TextRunBuilder, type KeyPress } from './us-keyboard.js';

export interface HooksSource {
  stop(): void;
}

interface Hook {
  on(event: 'keydown', listener: (e: KeyPress) => void): void;
  on(event: 'mousedown', listener: (e: { x: number; y: number; button: unknown }) => void): void;
  start(): void;
  stop(): void;
}

const IDLE_MS = 1_000;
const BUTTONS: Readonly<Record<number, 'left' | 'right' | 'middle'>> = { 1: 'left', 2: 'right', 3: 'middle' };

/** Loads the optional packages by a computed name, so a bundle or a machine without them still runs. */
async function optional<T>(name: string): Promise<T | undefined> {
  try {
    return (await import(name)) as T;
  } catch {
    return undefined;
  }
}

export async function startHooksSource(emit: (event: CaptureEvent) => void): Promise<HooksSource> {
  const hookModule = await optional<{ uIOhook: Hook }>(['uiohook', 'napi'].join('-'));
  if (hookModule === undefined) throw new Error('--source hooks needs the optional package uiohook-napi (npm i -E uiohook-napi@1.5.5)');
  const windows = await optional<{ activeWindow: () => Promise<{ title?: string; owner?: { name?: string } } | undefined> }>(['get', 'windows'].join('-'));
  let app: string | undefined;
  const runs = new TextRunBuilder((text, startedAt) => emit({ kind: 'keystroke', ts: startedAt, text, ...(app === undefined ? {} : { app }) }));
  let idle: NodeJS.Timeout | undefined;
  const hook = hookModule.uIOhook;
  hook.on('keydown', (press) => {
    runs.press(press, Date.now());
    clearTimeout(idle);
    idle = setTimeout(() => runs.end(), IDLE_MS);
  });
  hook.on('mousedown', (e) => {
    runs.end();
    const button = typeof e.button === 'number' ? (BUTTONS[e.button] ?? 'other') : 'other';
    emit({ kind: 'click', ts: Date.now(), x: Math.round(e.x), y: Math.round(e.y), button, ...(app === undefined ? {} : { app }) });
  });
  let focusTimer: NodeJS.Timeout | undefined;
  if (windows !== undefined) {
    let last = '';
    focusTimer = setInterval(() => {
      void windows
        .activeWindow()
        .then((w) => {
          const name = w?.owner?.name;
          if (name === undefined || name === '') return;
          const key = `${name}\u0000${w?.title ?? ''}`;
          if (key === last) return;
          last = key;
          runs.end();
          app = name.slice(0, 256);
          emit({ kind: 'app-focus', ts: Date.now(), app, ...(w?.title === undefined ? {} : { title: w.title.slice(0, 1024) }) });
        })
        .catch(() => undefined);
    }, 500);
  }
  hook.start();
  return {
    stop() {
      clearTimeout(idle);
      clearInterval(focusTimer);
      runs.end();
      hook.stop();
    },
  };
}
