import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EFSClient } from '@aws-sdk/client-efs';
import { SQSClient } from '@aws-sdk/client-sqs';
import { CONFIG_CONTEXT_KEY, ConfigError, type FleetConfig, resolveConfig } from '../../lib/config.js';
import { createEc2Fleet, discoverFleetInstances } from '../aws/ec2.js';
import { FleetError } from '../aws/errors.js';
import type { FleetPort, InstanceInfo, QueuePort } from '../aws/ports.js';
import { createSqsQueue } from '../aws/sqs.js';
import type { Role } from '../core/tags.js';
import { CliFailure } from './io.js';

/** The global options every AWS command takes. */
export interface GlobalOptions {
  readonly region?: string;
  readonly profile?: string;
  readonly stack?: string;
}

/** Everything a command needs to talk to one deployed fleet; created only when a command runs. */
export interface Session {
  readonly config: FleetConfig;
  /** The stack name prefix (the app name) that identifies the fleet. */
  readonly prefix: string;
  readonly ec2: EC2Client;
  readonly sqs: SQSClient;
  readonly efs: EFSClient;
  readonly cloudFormation: CloudFormationClient;
  readonly fleet: FleetPort;
  readonly queue: QueuePort;
  /** The fleet's instances, found by tag; each role must be there. */
  instances(): Promise<Record<Role, InstanceInfo>>;
}

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

export function createSession(options: GlobalOptions, cwd: string): Session {
  const config = loadConfig(cwd);
  const clientConfig = { region: options.region, profile: options.profile };
  const ec2 = new EC2Client(clientConfig);
  const sqs = new SQSClient(clientConfig);
  const prefix = options.stack ?? config.appName;
  let found: Promise<Record<Role, InstanceInfo>> | undefined;
  return {
    config,
    prefix,
    ec2,
    sqs,
    efs: new EFSClient(clientConfig),
    cloudFormation: new CloudFormationClient(clientConfig),
    fleet: createEc2Fleet(ec2),
    queue: createSqsQueue(sqs),
    instances() {
      found ??= discoverFleetInstances(ec2, prefix).then((instances) => {
        const byRole = (role: Role): InstanceInfo => {
          const instance = instances.find((i) => i.role === role);
          if (!instance) {
            throw new FleetError(
              'NotFound',
              `no ${role} instance tagged gpu-fleet:fleet=${prefix} was found`,
              false,
            );
          }
          return instance;
        };
        return { app: byRole('app'), gpu: byRole('gpu') };
      });
      return found;
    },
  };
}
