import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EFSClient } from '@aws-sdk/client-efs';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { FleetConfig } from '../config.js';
import { createBurstGroup } from '../aws/burst.js';
import { burstGroupName } from '../names.js';
import { createEc2Fleet, discoverFleetInstances } from '../aws/ec2.js';
import { FleetError } from '../aws/errors.js';
import type { BurstPort, FleetPort, InstanceInfo, QueuePort } from '../aws/ports.js';
import { createSqsQueue } from '../aws/sqs.js';
import type { Role } from '../core/tags.js';
import { loadConfig } from './config-file.js';

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
  /** The fleet's log groups (gpu-manage logs, smoke-test). */
  readonly logs: CloudWatchLogsClient;
  readonly fleet: FleetPort;
  readonly queue: QueuePort;
  /** The burst workers' group; undefined when the configuration deploys none (burst.maxWorkers 0). */
  readonly burst: BurstPort | undefined;
  /** The fleet's instances, found by tag; each role must be there. */
  instances(): Promise<Record<Role, InstanceInfo>>;
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
    logs: new CloudWatchLogsClient(clientConfig),
    fleet: createEc2Fleet(ec2),
    queue: createSqsQueue(sqs),
    burst:
      config.burst.maxWorkers > 0
        ? createBurstGroup(new AutoScalingClient(clientConfig), ec2, burstGroupName(prefix))
        : undefined,
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
