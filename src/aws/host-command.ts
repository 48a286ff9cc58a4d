import {
  GetCommandInvocationCommand,
  SendCommandCommand,
  type SSMClient,
  waitUntilCommandExecuted,
} from '@aws-sdk/client-ssm';

/** What a shell command run on a host through Systems Manager ended with. */
export interface HostCommandResult {
  /** Success, Failed, Cancelled, TimedOut, …; or `NoAnswer` when the wait ran out first. */
  readonly status: string;
  readonly stdout: string;
  readonly stderr: string;
}

export interface HostCommandOptions {
  /** How long the command may run on the host, and how long we wait for its answer. */
  readonly timeoutSeconds: number;
  /** Seconds between polls of the invocation (the SDK waiter's minimum delay). @default 2 */
  readonly pollSeconds?: number;
}

/**
 * Runs shell lines on one instance with SSM Run Command (`AWS-RunShellScript`) and waits with
 * the SDK's own waiter, which also rides out the moment after SendCommand when the invocation
 * does not exist yet. The host's SSM agent answers with at most 24,000 characters of output.
 */
export async function runOnHost(
  ssm: SSMClient,
  instanceId: string,
  commands: readonly string[],
  options: HostCommandOptions,
): Promise<HostCommandResult> {
  const sent = await ssm.send(
    new SendCommandCommand({
      InstanceIds: [instanceId],
      DocumentName: 'AWS-RunShellScript',
      Parameters: { commands: [...commands], executionTimeout: [String(options.timeoutSeconds)] },
      Comment: 'gpu-manage',
    }),
  );
  const commandId = sent.Command?.CommandId;
  if (!commandId) throw new Error('SendCommand answered without a command id');
  const input = { CommandId: commandId, InstanceId: instanceId };
  const poll = options.pollSeconds ?? 2;
  try {
    await waitUntilCommandExecuted(
      { client: ssm, maxWaitTime: options.timeoutSeconds + 30, minDelay: poll, maxDelay: Math.max(poll, 10) },
      input,
    );
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return { status: 'NoAnswer', stdout: '', stderr: '' };
    // Failed, Cancelled or TimedOut on the host: its output says why, read below.
  }
  const last = await ssm.send(new GetCommandInvocationCommand(input));
  return {
    status: last.Status ?? 'Unknown',
    stdout: last.StandardOutputContent ?? '',
    stderr: last.StandardErrorContent ?? '',
  };
}
