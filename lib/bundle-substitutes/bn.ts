// Stands in for bn.js in the function bundles (lib/function-bundle.ts says why), backed by BigInt.
// It does what the non-signing suites and the SDK's module loading need, with bn.js's answers and
// errors; the elliptic-curve arithmetic only the signing suites use throws.

const MAX_SAFE = 2n ** 53n - 1n;

type Endian = 'be' | 'le';

function leftOut(what: string): never {
  throw new Error(`bn.js is left out of this bundle (${what}): the Encryption SDK's signing suites are not supported here`);
}

function fromBytes(bytes: ArrayLike<number>, endian: Endian): bigint {
  let value = 0n;
  for (let i = 0; i < bytes.length; i += 1) {
    const byte = bytes[endian === 'be' ? i : bytes.length - 1 - i] ?? 0;
    value = (value << 8n) | BigInt(byte & 0xff);
  }
  return value;
}

function fromInput(number: unknown, base: unknown, endian: unknown): bigint {
  // bn.js accepts the endianness in the base's place: new BN(bytes, 'le').
  const order: Endian = base === 'le' || endian === 'le' ? 'le' : 'be';
  if (number instanceof BN) return number.value;
  // What this class's own arithmetic passes.
  if (typeof number === 'bigint' && number >= 0n) return number;
  if (typeof number === 'number') {
    if (!Number.isSafeInteger(number) || number < 0) return leftOut(`new BN(${number})`);
    return BigInt(number);
  }
  if (typeof number === 'string') {
    const radix = base === 16 || base === 'hex' ? 16 : base === undefined || base === 10 ? 10 : 0;
    const digits = radix === 16 ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/;
    if (radix === 0 || !digits.test(number)) return leftOut(`new BN(${JSON.stringify(number)}, ${String(base)})`);
    return BigInt(radix === 16 ? `0x${number}` : number);
  }
  if (Array.isArray(number) || number instanceof Uint8Array) return fromBytes(number, order);
  return leftOut(`new BN(${typeof number})`);
}

export default class BN {
  readonly value: bigint;

  constructor(number: unknown, base?: unknown, endian?: unknown) {
    this.value = fromInput(number, base, endian);
  }

  /** bn.js's Montgomery context; only the signing suites reduce with it (toRed throws). */
  static mont(modulus: BN): { readonly modulus: BN } {
    return { modulus };
  }

  add(other: BN): BN {
    return new BN(this.value + other.value);
  }

  div(other: BN): BN {
    return new BN(this.value / other.value);
  }

  mod(other: BN): BN {
    return new BN(this.value % other.value);
  }

  eq(other: BN): boolean {
    return this.value === other.value;
  }

  bitLength(): number {
    return this.value === 0n ? 0 : this.value.toString(2).length;
  }

  byteLength(): number {
    return Math.ceil(this.bitLength() / 8);
  }

  toNumber(): number {
    if (this.value > MAX_SAFE) throw new Error('Number can only safely store up to 53 bits');
    return Number(this.value);
  }

  toArray(endian: Endian = 'be', length?: number): number[] {
    const byteLength = this.byteLength();
    const wanted = length ?? Math.max(1, byteLength);
    if (byteLength > wanted) throw new Error('byte array longer than desired length');
    if (wanted <= 0) throw new Error('Requested array length <= 0');
    const bytes = new Array<number>(wanted).fill(0);
    let rest = this.value;
    for (let i = 0; i < byteLength; i += 1) {
      bytes[endian === 'be' ? wanted - 1 - i : i] = Number(rest & 0xffn);
      rest >>= 8n;
    }
    return bytes;
  }

  // The elliptic-curve arithmetic of the signing suites' point decompression.
  pow(): never {
    return leftOut('pow');
  }

  mul(): never {
    return leftOut('mul');
  }

  sub(): never {
    return leftOut('sub');
  }

  toRed(): never {
    return leftOut('toRed');
  }

  redPow(): never {
    return leftOut('redPow');
  }

  fromRed(): never {
    return leftOut('fromRed');
  }

  toArrayLike(): never {
    return leftOut('toArrayLike');
  }
}
