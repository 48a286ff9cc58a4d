import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONFIG_CONTEXT_KEY, ConfigError, type FleetConfig, resolveConfig } from '../config.js';
import { CliFailure } from './io.js';

/**
 * Reads the fleet configuration from cdk.json in `cwd` (the defaults when there is none).
 * The 30-day ValidUntil rule guards deploys, not operations, so it is not applied here:
 * status reads the live spot request and warns instead.
 */
export function loadConfig(cwd: string): FleetConfig {
  const file = path.join(cwd, 'cdk.json');
  let raw: unknown;
  if (fs.existsSync(file)) {
    try {
      raw = (JSON.parse(fs.readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context?.[
        CONFIG_CONTEXT_KEY
      ];
    } catch (error) {
      throw new CliFailure(`cdk.json is not valid JSON: ${(error as Error).message}`);
    }
  }
  try {
    return resolveConfig(raw, new Date(0));
  } catch (error) {
    if (error instanceof ConfigError) throw new CliFailure(`${error.message} (in ${file})`);
    throw error;
  }
}
