// Stands in for asn1.js in the function bundles (lib/function-bundle.ts says why). The Encryption
// SDK declares its DER and PEM schemas when it loads, so `define` answers; using one throws.

function leftOut(what: string): never {
  throw new Error(`asn1.js is left out of this bundle (${what}): the Encryption SDK's signing suites are not supported here`);
}

/** A declared schema; only the signing suites would encode or decode with it. */
class Unusable {
  constructor(private readonly name: string) {}
  encode(): never {
    return leftOut(`encode ${this.name}`);
  }
  decode(): never {
    return leftOut(`decode ${this.name}`);
  }
}

const asn1 = {
  define(name: string): Unusable {
    return new Unusable(name);
  },
  get bignum(): never {
    return leftOut('bignum');
  },
};

export default asn1;
