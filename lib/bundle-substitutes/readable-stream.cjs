// Stands in for readable-stream in the function bundles (lib/function-bundle.ts says why): this is
// readable-stream 3.6's own readable.js with READABLE_STREAM=disable, which hands out Node's streams.
'use strict';
const Stream = require('node:stream');

module.exports = Stream.Readable;
Object.assign(module.exports, Stream);
module.exports.Stream = Stream;
