// Starts a real SQS protocol server (fauxqs, ESM-only) on 127.0.0.1 for the worker tests and
// prints its address as one JSON line; it stops when its parent closes stdin or sends SIGTERM.
import { startFauxqs } from 'fauxqs';

const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
process.stdout.write(`${JSON.stringify({ address: server.address })}\n`);
const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
