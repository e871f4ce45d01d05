// Key codes (libuiohook's, as uiohook-napi reports them) to the characters a US keyboard layout
// types, and a builder that turns key presses into text runs: characters accumulate until Enter,
// a focus change, an idle pause or a length bound, Backspace takes back the last one, and
// shortcuts (Ctrl, Alt or Meta held) type nothing.

/** [unshifted, shifted] per key code. */
const US_LAYOUT: Readonly<Record<number, readonly [string, string]>> = {
  2: ['1', '!'], 3: ['2', '@'], 4: ['3', '#'], 5: ['4', '$'], 6: ['5', '%'], 7: ['6', '^'], 8: ['7', '&'], 9: ['8', '*'], 10: ['9', '('], 11: ['0', ')'],
  12: ['-', '_'], 13: ['=', '+'], 16: ['q', 'Q'], 17: ['w', 'W'], 18: ['e', 'E'], 19: ['r', 'R'], 20: ['t', 'T'], 21: ['y', 'Y'], 22: ['u', 'U'],
  23: ['i', 'I'], 24: ['o', 'O'], 25: ['p', 'P'], 26: ['[', '{'], 27: [']', '}'], 30: ['a', 'A'], 31: ['s', 'S'], 32: ['d', 'D'], 33: ['f', 'F'],
  34: ['g', 'G'], 35: ['h', 'H'], 36: ['j', 'J'], 37: ['k', 'K'], 38: ['l', 'L'], 39: [';', ':'], 40: ["'", '"'], 41: ['`', '~'], 43: ['\\', '|'],
  44: ['z', 'Z'], 45: ['x', 'X'], 46: ['c', 'C'], 47: ['v', 'V'], 48: ['b', 'B'], 49: ['n', 'N'], 50: ['m', 'M'], 51: [',', '<'], 52: ['.', '>'],
  53: ['/', '?'], 57: [' ', ' '], 15: ['\t', '\t'],
  // Numpad digits and operators (NumLock assumed on).
  82: ['0', '0'], 79: ['1', '1'], 80: ['2', '2'], 81: ['3', '3'], 75: ['4', '4'], 76: ['5', '5'], 77: ['6', '6'], 71: ['7', '7'], 72: ['8', '8'], 73: ['9', '9'],
  55: ['*', '*'], 78: ['+', '+'], 74: ['-', '-'], 83: ['.', '.'], 3637: ['/', '/'],
};

const ENTER = 28;
const BACKSPACE = 14;
const CAPS_LOCK = 58;

export interface KeyPress {
  readonly keycode: number;
  readonly shiftKey: boolean;
  readonly ctrlKey: boolean;
  readonly altKey: boolean;
  readonly metaKey: boolean;
}

/** The character a key press types on a US layout, or undefined (a modifier, a shortcut, an arrow). */
export function usCharacter(press: KeyPress, capsLock = false): string | undefined {
  if (press.ctrlKey || press.altKey || press.metaKey) return undefined;
  const pair = US_LAYOUT[press.keycode];
  if (pair === undefined) return undefined;
  const letter = /^[a-z]$/.test(pair[0]);
  const shifted = letter ? press.shiftKey !== capsLock : press.shiftKey;
  return shifted ? pair[1] : pair[0];
}

/** Text runs from key presses; `emit(text, startedAt)` for each finished run. */
export class TextRunBuilder {
  private text = '';
  private startedAt = 0;
  private capsLock = false;

  constructor(
    private readonly emit: (text: string, startedAt: number) => void,
    private readonly maxChars = 200,
  ) {}

  press(press: KeyPress, at: number): void {
    if (press.keycode === CAPS_LOCK) {
      this.capsLock = !this.capsLock;
      return;
    }
    if (press.keycode === BACKSPACE) {
      this.text = [...this.text].slice(0, -1).join('');
      return;
    }
    if (press.keycode === ENTER) {
      this.end();
      return;
    }
    const character = usCharacter(press, this.capsLock);
    if (character === undefined) return;
    if (this.text === '') this.startedAt = at;
    this.text += character;
    if (this.text.length >= this.maxChars) this.end();
  }

  /** Ends the current run (Enter, a focus change, an idle pause, stopping). */
  end(): void {
    if (this.text !== '') this.emit(this.text, this.startedAt);
    this.text = '';
  }
}
