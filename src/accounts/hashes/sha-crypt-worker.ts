// Worker-thread entry for sha-crypt.ts: answers each job with its checksum. The rounds loop takes
// up to seconds of CPU, which must not happen on the event loop's thread.
import { parentPort } from 'node:worker_threads';
import { shaCryptChecksum, type ShaCryptVariant } from './sha-crypt.js';

parentPort!.on('message', (job: { variant: ShaCryptVariant; key: Uint8Array; salt: string; rounds: number }) => {
  const key = Buffer.from(job.key.buffer, job.key.byteOffset, job.key.byteLength);
  parentPort!.postMessage(shaCryptChecksum(job.variant, key, job.salt, job.rounds));
});
