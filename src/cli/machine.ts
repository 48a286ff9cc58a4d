/** What `gpu-manage doctor` reads of the machine it runs on: the Docker engine and the AWS config file. */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DockerProbe } from '../core/readiness.js';

/** Probes the Docker engine the way cdk deploy reaches it (CDK_DOCKER or docker on the PATH). */
export function probeDocker(env: Readonly<Record<string, string | undefined>>): Promise<DockerProbe> {
  const command = env.CDK_DOCKER ?? 'docker';
  return new Promise((resolve) => {
    execFile(
      command,
      ['info', '--format', '{{.ServerVersion}}'],
      { timeout: 15_000 },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ running: true, version: stdout.trim() || 'engine' });
          return;
        }
        const reason =
          (error as NodeJS.ErrnoException).code === 'ENOENT'
            ? `${command} is not installed (not on the PATH)`
            : `${command} info failed: ${(stderr.trim().split('\n')[0] ?? '') || error.message.split('\n')[0]}`;
        resolve({ running: false, reason });
      },
    );
  });
}

/** The region a profile's section of the AWS config file names (AWS_CONFIG_FILE or ~/.aws/config). */
export function profileRegionOf(
  profileName: string,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const file = env.AWS_CONFIG_FILE ?? path.join(os.homedir(), '.aws', 'config');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const wanted = profileName === 'default' ? ['default', 'profile default'] : [`profile ${profileName}`];
  let inSection = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const section = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (section) {
      inSection = wanted.includes(section[1] ?? '');
      continue;
    }
    const setting = /^region\s*=\s*(\S+)/.exec(line);
    if (inSection && setting) return setting[1];
  }
  return undefined;
}
