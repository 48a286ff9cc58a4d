import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { FleetError, recordEndpointOnFailure, toFleetError } from './errors.js';

/** The data stack's outputs that the CLI needs (keys fixed by lib/data-stack.ts). */
export interface FleetOutputs {
  readonly jobQueueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly fileSystemId: string;
}

/** Reads one stack's outputs as a map; a missing stack is NotFound with the name that was looked for. */
export async function stackOutputs(
  client: CloudFormationClient,
  stackName: string,
): Promise<Record<string, string>> {
  recordEndpointOnFailure(client);
  try {
    const { Stacks = [] } = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    return Object.fromEntries(
      (Stacks[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']),
    );
  } catch (error) {
    // CloudFormation answers a missing stack with a ValidationError "Stack with id X does not exist".
    if (error instanceof Error && error.name === 'ValidationError' && /does not exist/.test(error.message)) {
      throw new FleetError('NotFound', `stack ${stackName} not found`, false, undefined, { cause: error });
    }
    throw toFleetError(error, 'cloudformation:DescribeStacks');
  }
}

/** Finds the queues and the file system of the fleet whose stacks are named `${prefix}-…`. */
export async function discoverFleetOutputs(
  client: CloudFormationClient,
  prefix: string,
): Promise<FleetOutputs> {
  const stackName = `${prefix}-Data`;
  const outputs = await stackOutputs(client, stackName);
  const read = (key: string): string => {
    const value = outputs[key];
    if (!value) throw new FleetError('NotFound', `stack ${stackName} has no output ${key}`, false);
    return value;
  };
  return {
    jobQueueUrl: read('JobQueueUrl'),
    deadLetterQueueUrl: read('DeadLetterQueueUrl'),
    fileSystemId: read('FileSystemId'),
  };
}
