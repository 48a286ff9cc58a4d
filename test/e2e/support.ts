import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ACCESS_KEY_ID, AwsServer, SECRET_ACCESS_KEY } from './aws-server';

export const ROOT = path.join(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'dist', 'gpu-manage.js');

/** The newest modification time of the TypeScript sources under a directory. */
function newestSource(dir: string): number {
  const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  return Math.max(0, ...files.map((file) => fs.statSync(path.join(dir, file)).mtimeMs));
}

/** Builds dist/gpu-manage.js (npm run build) unless it is newer than every source it comes from. */
export function ensureBuiltCli(): void {
  const built = fs.existsSync(CLI) ? fs.statSync(CLI).mtimeMs : 0;
  const sources = Math.max(...['bin', 'src', 'lib'].map((dir) => newestSource(path.join(ROOT, dir))));
  if (built < sources) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT });
}

let scratchDir: string | undefined;

/** One directory per test process: empty AWS config files and an empty working directory. */
function scratch(): string {
  if (scratchDir === undefined) {
    scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-fleet-e2e-'));
    for (const file of ['config', 'credentials']) fs.writeFileSync(path.join(scratchDir, file), '');
    fs.mkdirSync(path.join(scratchDir, 'cwd'));
  }
  return scratchDir;
}

/** Removes the scratch directory; call from afterAll. */
export function removeScratch(): void {
  if (scratchDir !== undefined) fs.rmSync(scratchDir, { recursive: true, force: true });
  scratchDir = undefined;
}

/**
 * A process environment that can reach only the local server: its endpoint, fake keys, a region,
 * empty config and credential files (so no profile of the machine is read) and no IMDS.
 */
export function localAwsEnv(server: AwsServer, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const dir = scratch();
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_')),
  );
  return {
    ...inherited,
    AWS_ENDPOINT_URL: server.endpoint,
    AWS_REGION: 'ap-northeast-1',
    AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
    AWS_CONFIG_FILE: path.join(dir, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    NO_COLOR: '1',
    ...extra,
  };
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** An expected failure reads as one line on stderr, exits 1, and shows no stack trace. */
export function expectOneLineFailure(result: CliRun): string {
  expect(result.code).toBe(1);
  expect(result.stderr.split('\n')).toHaveLength(1);
  expect(result.stderr).not.toMatch(/Unexpected error|\s{4}at |Error:/);
  // Commands that act on instances report each one: "<role> <id>: <what happened>".
  return result.stderr.replace(/^(app|gpu) i-\w+: /, '');
}

/**
 * Runs the built CLI as a process, asynchronously so that the server in this process can answer.
 * It runs in an empty directory: no cdk.json, so the configuration is the defaults.
 */
export function gpuManage(env: NodeJS.ProcessEnv, ...args: string[]): Promise<CliRun> {
  const cwd = path.join(scratch(), 'cwd');
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env, timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout: stdout.trimEnd(), stderr: stderr.trimEnd() });
    });
  });
}

/**
 * A concurrent test with its own local AWS server and environment (each test mostly waits on a
 * Node process that loads the SDK); `prepare` shapes the account first. No test may leak a real
 * queue URL to the server.
 */
export function withServer(
  name: string,
  body: (
    server: AwsServer,
    run: (...args: string[]) => Promise<CliRun>,
    env: NodeJS.ProcessEnv,
  ) => Promise<void>,
  prepare: (server: AwsServer) => void = () => undefined,
): void {
  it.concurrent(name, async () => {
    const server = await AwsServer.start();
    prepare(server);
    try {
      const env = localAwsEnv(server);
      await body(server, (...args) => gpuManage(env, ...args), env);
      expect(server.foreignQueueUrls).toEqual([]);
    } finally {
      await server.close();
    }
  });
}
