// Runs the OpenVoice service's Python tests with Debian's packages (python3-pytest,
// python3-fastapi, python3-httpx, python3-multipart). On a developer machine without them the
// tests are skipped with a loud, specific line; under CI (CI set) a missing package fails the run,
// because .ci/run installs them first.
import { spawnSync } from 'node:child_process';

// Debian's interpreter by default (its packages are the ones .ci/run installs); overridable for a venv.
const PYTHON = process.env.GPU_FLEET_PYTHON ?? '/usr/bin/python3';
const MODULES = ['pytest', 'fastapi', 'httpx', 'multipart'];
const INSTALL = 'sudo apt-get install python3-pytest python3-fastapi python3-httpx python3-multipart';

const probe = spawnSync(
  PYTHON,
  [
    '-c',
    `import importlib.util, sys; sys.exit(",".join(m for m in ${JSON.stringify(MODULES)} if importlib.util.find_spec(m) is None))`,
  ],
  { encoding: 'utf8' },
);
const missing = probe.error ? [`${PYTHON} itself`] : probe.stderr.trim().split(',').filter(Boolean);

if (missing.length > 0) {
  const line = `Python tests of docker/openvoice NOT RUN: missing ${missing.join(', ')} (${INSTALL})`;
  if (process.env.CI) {
    console.error(`ERROR: ${line}; CI requires them`);
    process.exit(1);
  }
  console.warn(`\n${'!'.repeat(100)}\n!!! SKIPPED: ${line}\n${'!'.repeat(100)}\n`);
  process.exit(0);
}

const run = spawnSync(
  PYTHON,
  ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'docker/openvoice/tests', ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
);
process.exit(run.status ?? 1);
