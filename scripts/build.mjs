// Builds the gpu-manage CLI into dist/gpu-manage.js, so that running it never compiles
// TypeScript. Dependencies stay external (resolved from node_modules at run time), and the
// dynamic imports inside the commands keep the AWS SDK out of `--help`.
import { build } from 'esbuild';

await build({
  entryPoints: ['bin/gpu-manage.ts'],
  outfile: 'dist/gpu-manage.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
