// Preloaded into a CLI process to prove a path never loads the AWS SDK: any require of
// @aws-sdk/* aborts the process with exit code 99.
const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request.startsWith('@aws-sdk/')) {
    process.stderr.write(`AWS SDK loaded: ${request}\n`);
    process.exit(99);
  }
  return load.call(this, request, ...rest);
};
