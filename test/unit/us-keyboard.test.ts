// Key codes to text on a US layout: shift and caps lock, Backspace, Enter ending a run, shortcuts
// typing nothing.
import { describe, expect, it } from 'vitest';
import { TextRunBuilder, usCharacter } from '../../agent/sources/us-keyboard.js';

const key = (keycode: number, mods: Partial<{ shiftKey: boolean; ctrlKey: boolean; altKey: boolean; metaKey: boolean }> = {}) => ({
  keycode,
  shiftKey: false,
  ctrlKey: false,
  altKey: false,
  metaKey: false,
  ...mods,
});

describe('US layout', () => {
  it('maps letters, digits and symbols with and without shift, and caps lock to letters only', () => {
    expect([usCharacter(key(30)), usCharacter(key(30, { shiftKey: true })), usCharacter(key(30), true), usCharacter(key(30, { shiftKey: true }), true)]).toEqual(['a', 'A', 'A', 'a']);
    expect([usCharacter(key(2)), usCharacter(key(2, { shiftKey: true })), usCharacter(key(2), true)]).toEqual(['1', '!', '1']);
    expect([usCharacter(key(53, { shiftKey: true })), usCharacter(key(57)), usCharacter(key(46, { ctrlKey: true })), usCharacter(key(57419))]).toEqual(['?', ' ', undefined, undefined]);
  });

  it('builds runs: Backspace takes back a character, Enter ends the run, shortcuts type nothing', () => {
    const runs: string[] = [];
    const builder = new TextRunBuilder((text) => runs.push(text));
    for (const k of [key(35, { shiftKey: true }), key(23), key(23), key(14), key(46, { ctrlKey: true }), key(2, { shiftKey: true }), key(28), key(58), key(20), key(28)]) builder.press(k, 0);
    expect(runs).toEqual(['Hi!', 'T']);
  });
});
