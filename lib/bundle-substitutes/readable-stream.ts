// Stands in for readable-stream in the function bundles (lib/function-bundle.ts says why): Node's
// own streams under readable-stream 3's names. readable-stream's own READABLE_STREAM=disable mode
// means the same, but its Object.assign throws on Node 20's getter-only `Stream.promises`.
import { Duplex, finished as nodeFinished, PassThrough, pipeline as nodePipeline, Readable, Stream, Transform, Writable } from 'node:stream';

function ignore(): void {
  // readable-stream 3's default callback: the streams are destroyed on error, as in Node.
}

/** Node's function with readable-stream 3's optional last callback (the Encryption SDK's encrypt stream omits pipeline's). */
function withOptionalCallback<R>(nodeFunction: (...args: unknown[]) => R): (...args: unknown[]) => R {
  return (...args) => (typeof args.at(-1) === 'function' ? nodeFunction(...args) : nodeFunction(...args, ignore));
}

const pipeline = withOptionalCallback(nodePipeline as unknown as (...args: unknown[]) => NodeJS.WritableStream);
const finished = withOptionalCallback(nodeFinished as unknown as (...args: unknown[]) => () => void);

export { Duplex, finished, PassThrough, pipeline, Readable, Stream, Transform, Writable };
export default Readable;
