import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  SendCommandCommand,
  SSMClient,
  SSMServiceException,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { PRINT_LOCK_ON_GPU_HOST } from '../../src/cli/model-lock';
import { appInstance, givenInstances, gpuInstance, resetMocks, run } from './support';

const ssmMock = mockClient(SSMClient);
const LOCK = '{\n  "huggingface": {}\n}\n';

beforeEach(() => {
  resetMocks();
  ssmMock.reset();
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
  givenInstances(appInstance(), gpuInstance({ State: { Name: 'running' } }));
});

describe('gpu-manage model-lock', () => {
  it('prints the lock the running GPU host reads from EFS, through SSM Run Command', async () => {
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Success', StandardOutputContent: LOCK, StandardErrorContent: '' });
    const result = await run('model-lock');
    expect(result).toMatchObject({ code: 0, out: LOCK.trimEnd(), err: '' });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      InstanceIds: ['i-0gpu'],
      DocumentName: 'AWS-RunShellScript',
      Parameters: { commands: PRINT_LOCK_ON_GPU_HOST, executionTimeout: ['120'] },
    });
    expect(PRINT_LOCK_ON_GPU_HOST.join(' ')).toMatch(
      /run --rm --no-deps -T models python -m app\.models lock$/,
    );
  });

  it('waits while the invocation does not exist yet and while it runs', async () => {
    ssmMock
      .on(GetCommandInvocationCommand)
      .rejectsOnce(new InvocationDoesNotExist({ message: 'not yet', $metadata: {} }))
      .resolvesOnce({ Status: 'InProgress' })
      .resolves({ Status: 'Success', StandardOutputContent: LOCK });
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lock-')), 'model_pins.json');
    const result = await run('model-lock', '--out', out, '--timeout', '30');
    expect(result.code).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toBe(LOCK);
    expect(result.out).toMatch(/written to .*model_pins\.json: review it, then commit it/);
  }, 30_000);

  it('says to start the GPU first when it is stopped, and sends nothing', async () => {
    givenInstances(appInstance(), gpuInstance());
    const result = await run('model-lock');
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      'the GPU is stopped: the lock is read on the GPU host. Run gpu-manage start-gpu --hold 15m --wait, then this again.',
    );
    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('fails with the host’s last lines when the command fails there (no lock yet)', async () => {
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      StandardOutputContent: '',
      StandardErrorContent:
        'Traceback …\nno lock at /mnt/shared/models/models.lock.json: nothing was fetched yet\n',
    });
    const result = await run('model-lock');
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      'printing the lock on i-0gpu ended Failed: Traceback … | no lock at /mnt/shared/models/models.lock.json: nothing was fetched yet',
    );
  }, 30_000);

  it('reads a refused SendCommand as one line, no stack trace', async () => {
    ssmMock.on(SendCommandCommand).rejects(
      new SSMServiceException({
        name: 'AccessDeniedException',
        message: 'User is not authorized to perform: ssm:SendCommand',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const result = await run('model-lock');
    expect(result.code).toBe(1);
    expect(result.err.split('\n')).toHaveLength(1);
    expect(result.err).not.toMatch(/Unexpected error|\s{4}at /);
  });

  it('rejects a bad --timeout as usage (exit 2)', async () => {
    expect((await run('model-lock', '--timeout', '0')).code).toBe(2);
  });
});
