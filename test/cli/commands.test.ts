import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CloudFormationServiceException } from '@aws-sdk/client-cloudformation';
import {
  appInstance,
  cfnMock,
  ec2Error,
  ec2Mock,
  givenInstances,
  gpuInstance,
  resetMocks,
  run,
} from './support';

beforeEach(resetMocks);

describe('start and stop', () => {
  it('start-gpu finds the fleet by tag, starts the stopped GPU and explains the idle stop', async () => {
    givenInstances(appInstance(), gpuInstance());
    const result = await run('start-gpu');
    expect(result).toEqual({
      code: 0,
      out: 'Starting gpu i-0gpu (was stopped).\nThe scaler stops the GPU after 5 idle minutes; add --hold 2h to keep it up longer.',
      err: '',
    });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [
        { Name: 'tag:gpu-fleet:fleet', Values: ['GpuFleet'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
      ],
    });
    expect(ec2Mock).toHaveReceivedCommandWith(StartInstancesCommand, { InstanceIds: ['i-0gpu'] });
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateTagsCommand, 0);
  });

  it('start-gpu --hold 2h writes the hold tag with its expiry', async () => {
    givenInstances(appInstance(), gpuInstance());
    const result = await run('start-gpu', '--hold', '2h');
    expect(result.code).toBe(0);
    expect(result.out).toContain(
      'Hold set until 2026-11-24T05:00:00Z (2h): the scaler keeps the GPU running until then.',
    );
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ['i-0gpu'],
      Tags: [{ Key: 'gpu-fleet:hold-until', Value: '2026-11-24T05:00:00Z' }],
    });
  });

  it('is idempotent: starting what runs says so and succeeds without a StartInstances', async () => {
    givenInstances(appInstance(), gpuInstance({ State: { Name: 'running' } }));
    const result = await run('start-all');
    expect(result.code).toBe(0);
    expect(result.out).toContain('app i-0app is already running.');
    expect(result.out).toContain('gpu i-0gpu is already running.');
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
  });

  it('stop-all stops what runs, skips what is stopped, releases a GPU hold and pauses automatic starts', async () => {
    givenInstances(appInstance(), gpuInstance({}, { 'gpu-fleet:hold-until': '2026-11-24T05:00:00Z' }));
    const result = await run('stop-all');
    expect(result.code).toBe(0);
    expect(result.out.split('\n')).toEqual([
      'Stopping app i-0app (was running).',
      'gpu i-0gpu is already stopped.',
      'GPU hold released.',
      'Automatic GPU starts paused until 2026-11-25T00:00:00Z (the next scheduled start of the app host); start-gpu or hold resumes them.',
    ]);
    expect(ec2Mock).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: ['i-0app'] });
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ['i-0gpu'],
      Tags: [
        { Key: 'gpu-fleet:hold-until', Value: '' },
        { Key: 'gpu-fleet:paused-until', Value: '2026-11-25T00:00:00Z' },
      ],
    });
  });

  it('--wait waits with the SDK waiter until the instance runs', async () => {
    givenInstances(appInstance(), gpuInstance());
    ec2Mock
      .on(DescribeInstancesCommand, { InstanceIds: ['i-0gpu'] })
      .resolves({ Reservations: [{ Instances: [gpuInstance({ State: { Name: 'running' } })] }] });
    const result = await run('start-gpu', '--wait', '--timeout', '60');
    expect(result.code).toBe(0);
    expect(result.out).toContain('Waiting up to 60s for i-0gpu to be running…');
    expect(result.out).toContain('i-0gpu is running (after 0s).');
  });

  it('refuses to start a GPU that a spot interruption stopped, saying who can start it', async () => {
    givenInstances(appInstance(), gpuInstance({ StateReason: { Code: 'Server.SpotInstanceShutdown' } }));
    const result = await run('start-gpu');
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      'gpu i-0gpu was stopped by a spot interruption; only EC2 can start it again, which it does when capacity returns.',
    );
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
  });

  it('hold --release ends a hold; hold 30m sets one', async () => {
    givenInstances(appInstance(), gpuInstance({}, { 'gpu-fleet:hold-until': '2026-11-24T05:00:00Z' }));
    expect((await run('hold', '--release')).out).toBe(
      'GPU hold released; the scaler stops the GPU after 5 idle minutes without work.',
    );
    const held = await run('hold', '30m');
    expect(held.out).toContain('Hold set until 2026-11-24T03:30:00Z (30m)');
    expect(held.out).toContain('the scaler starts it within a minute');
  });
});

describe('errors: one clear line and an exit code', () => {
  it('no credentials', async () => {
    ec2Mock.on(DescribeInstancesCommand).rejects(
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
    );
    const result = await run('stop-gpu');
    expect(result).toMatchObject({ code: 1, err: expect.stringMatching(/^No AWS credentials found/) });
  });

  it('instances not found: says what was looked for', async () => {
    givenInstances();
    const result = await run('--stack', 'Other', 'start-app');
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      'No app instance tagged gpu-fleet:fleet=Other was found. Are the stacks deployed in this region (npx cdk deploy --all), and is --stack right?',
    );
  });

  it('stack not found', async () => {
    givenInstances(appInstance(), gpuInstance());
    cfnMock.on(DescribeStacksCommand).rejects(
      new CloudFormationServiceException({
        name: 'ValidationError',
        message: 'Stack with id GpuFleet-Data does not exist',
        $fault: 'client',
        $metadata: {},
      }),
    );
    const result = await run('status');
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      'Stack GpuFleet-Data not found. Are the stacks deployed in this region (npx cdk deploy --all), and is --stack right?',
    );
  });

  it('an instance between states', async () => {
    givenInstances(appInstance(), gpuInstance({ State: { Name: 'stopping' } }));
    const result = await run('start-gpu');
    expect(result).toMatchObject({
      code: 1,
      err: 'gpu i-0gpu is stopping; start it once it has stopped (try again in a minute).',
    });
  });

  it('an unexpected error: one line, and the stack only with --debug', async () => {
    givenInstances(appInstance(), gpuInstance());
    ec2Mock.on(StartInstancesCommand).rejects(ec2Error('SomethingNew'));
    const plain = await run('start-gpu');
    expect(plain.err.split('\n')).toEqual([
      'Unexpected error: SomethingNew: SomethingNew message',
      'Run with --debug for details.',
    ]);
    const debug = await run('--debug', 'start-gpu');
    expect(debug.err).toContain('    at ');
  });

  it.each([
    [['frobnicate'], "error: unknown command 'frobnicate'"],
    [['start-gpu', '--hold', '2x'], 'invalid duration "2x"'],
    [['start-gpu', '--wait', '--timeout', 'soon'], '--timeout must be a whole number of seconds'],
    [['hold'], 'give a duration such as 2h, or --release'],
    [['status', '--colour'], "error: unknown option '--colour'"],
  ])('bad usage %j: message on stderr, exit 2, no AWS call', async (argv, message) => {
    const result = await run(...argv);
    expect(result.code).toBe(2);
    expect(result.err).toContain(message);
    expect(result.out).toBe('');
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});
