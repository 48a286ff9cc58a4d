import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ALARM_TOPIC_ARN, AwsServer, awsError } from './aws-server';
import { type CliRun, ensureBuiltCli, gpuManage, localAwsEnv, removeScratch, withServer } from './support';

/**
 * The built `gpu-manage doctor` against the local AWS server: a ready account passes every check,
 * each kind of unready account fails the one check that names it (with its fix), and AWS's own
 * failures read as one check that could not be made, never as a stack trace.
 */
ensureBuiltCli();

const dockerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-fleet-doctor-'));
/** A docker CLI that answers `docker info` as a running engine does. */
const FAKE_DOCKER = path.join(dockerDir, 'docker');
fs.writeFileSync(FAKE_DOCKER, '#!/bin/sh\necho 27.3.1\n', { mode: 0o755 });

afterAll(() => {
  removeScratch();
  fs.rmSync(dockerDir, { recursive: true, force: true });
});

const WITH_EMAIL = JSON.stringify({ alarmEmail: 'ops@example.com' });

type Lines = Record<string, { status: string; text: string }>;

/** The report's lines by check name: "FAIL  GPU spot quota  …" → { status: 'FAIL', text }. */
function checksOf(result: CliRun): Lines {
  const lines = result.stdout.matchAll(/^(PASS|WARN|FAIL|SKIP) {2}(.+?) {2,}(.*)$/gm);
  return Object.fromEntries(
    [...lines].map(([, status = '', name = '', text = '']) => [name, { status, text }]),
  );
}

function statuses(result: CliRun): Record<string, string> {
  return Object.fromEntries(Object.entries(checksOf(result)).map(([name, { status }]) => [name, status]));
}

/** A failed doctor run: exit 1, one summary line on stderr, no stack trace anywhere; its checks. */
function expectFailedRun(result: CliRun, failures: number): Lines {
  expect(result.code).toBe(1);
  expect(result.stderr).toBe(
    `${failures} ${failures === 1 ? 'check' : 'checks'} failed: fix them before cdk deploy.`,
  );
  expect(`${result.stdout}\n${result.stderr}`).not.toMatch(/Unexpected error|\s{4}at |Error:/);
  return checksOf(result);
}

/** A concurrent doctor test on its own server, the alarm e-mail confirmed; `run` adds to the environment. */
function withDoctor(
  name: string,
  body: (
    server: AwsServer,
    run: (env?: Record<string, string>, ...args: string[]) => Promise<CliRun>,
  ) => Promise<void>,
): void {
  withServer(
    name,
    (server) =>
      body(server, (extra = {}, ...args) =>
        gpuManage(localAwsEnv(server, { CDK_DOCKER: FAKE_DOCKER, ...extra }), 'doctor', ...args),
      ),
    (server) =>
      (server.account.subscriptions = [{ protocol: 'email', endpoint: 'ops@example.com', confirmed: true }]),
  );
}

describe('gpu-manage doctor', () => {
  withDoctor('a ready account passes every check and exits 0', async (server, run) => {
    const result = await run({}, '--config', WITH_EMAIL);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(statuses(result)).toEqual({
      region: 'PASS',
      credentials: 'PASS',
      'CDK bootstrap': 'PASS',
      'GPU spot quota': 'PASS',
      'zone offers g4dn.xlarge': 'PASS',
      'spot price': 'PASS',
      'alarm e-mail': 'PASS',
      'Docker engine': 'PASS',
    });
    const checks = checksOf(result);
    expect(checks.region?.text).toBe('ap-northeast-1 (from AWS_REGION)');
    expect(checks.credentials?.text).toBe('account 123456789012 as arn:aws:iam::123456789012:user/e2e');
    expect(checks['zone offers g4dn.xlarge']?.text).toBe('ap-northeast-1a offers g4dn.xlarge');
    expect(checks['spot price']?.text).toMatch(/0\.2104 USD\/h on spot now, under spotMaxPriceUsd 0\.3$/);
    expect(checks['Docker engine']?.text).toBe('Docker 27.3.1 answers');
    expect(server.callsOf('ssm:GetParameter')[0]?.params).toMatchObject({
      Name: '/cdk-bootstrap/hnb659fds/version',
    });
    expect(server.callsOf('servicequotas:GetServiceQuota').map((c) => c.params)).toEqual([
      { ServiceCode: 'ec2', QuotaCode: 'L-3819A6DF' },
    ]);
    expect(server.callsOf('ec2:DescribeSpotPriceHistory')[0]?.params).toMatchObject({
      'InstanceType.1': 'g4dn.xlarge',
      'ProductDescription.1': 'Linux/UNIX',
      AvailabilityZone: 'ap-northeast-1a',
    });
    expect(server.callsOf('sns:ListSubscriptionsByTopic')[0]?.params).toMatchObject({
      TopicArn: ALARM_TOPIC_ARN,
    });
  });

  withDoctor('no region anywhere: the region fails, the AWS checks wait for one', async (_server, run) => {
    const result = await run({ AWS_REGION: '' });
    expectFailedRun(result, 1);
    expect(checksOf(result).region).toEqual({
      status: 'FAIL',
      text: 'no region configured: cdk deploy would use us-east-1',
    });
    expect(result.stdout).toMatch(/fix: export AWS_REGION=ap-northeast-1, or `aws configure set region/);
    expect(statuses(result).credentials).toBe('SKIP');
  });

  withDoctor('a region from the profile is named as such', async (_server, run) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-fleet-profile-'));
    const config = path.join(dir, 'config');
    fs.writeFileSync(config, '[default]\noutput = json\n[profile deploy]\nregion = ap-northeast-1\n');
    try {
      const result = await run({ AWS_REGION: '', AWS_PROFILE: 'deploy', AWS_CONFIG_FILE: config });
      expect(checksOf(result).region?.text).toBe('ap-northeast-1 (from profile "deploy")');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  withDoctor('CDK_DEFAULT_REGION that the CDK CLI would overwrite fails the region', async (_server, run) => {
    expect(expectFailedRun(await run({ CDK_DEFAULT_REGION: 'us-west-2' }), 1).region?.text).toMatch(
      /CDK_DEFAULT_REGION=us-west-2 is overwritten by the CDK CLI/,
    );
  });

  withDoctor('credentials AWS does not know fail, and nothing else is asked', async (server, run) => {
    const result = await run({ AWS_ACCESS_KEY_ID: 'AKIDUNKNOWN000000000' });
    expectFailedRun(result, 1);
    expect(checksOf(result).credentials?.text).toMatch(/^could not check: AWS rejected the credentials/);
    expect(server.calls.map((c) => c.action)).toEqual(['sts:GetCallerIdentity']);
    expect(result.stdout).toContain('fix: run `aws configure` or `aws sso login`');
  });

  withDoctor('a region not bootstrapped fails with the bootstrap command', async (server, run) => {
    server.account.bootstrapVersion = undefined;
    const result = await run();
    expectFailedRun(result, 1);
    expect(checksOf(result)['CDK bootstrap']?.text).toBe('ap-northeast-1 is not bootstrapped for the CDK');
    expect(result.stdout).toContain('fix: npx cdk bootstrap aws://123456789012/ap-northeast-1');
  });

  withDoctor('a new account’s spot quota (never applied: the default 0) fails', async (server, run) => {
    delete server.account.appliedQuotas['L-3819A6DF'];
    const result = await run();
    expectFailedRun(result, 1);
    expect(checksOf(result)['GPU spot quota']?.text).toMatch(
      /^"All G and VT Spot Instance Requests" \(L-3819A6DF\) is 0 vCPUs: the g4dn.xlarge GPU \(4 vCPUs\) cannot launch/,
    );
    expect(result.stdout).toContain('--quota-code L-3819A6DF --desired-value 4');
    expect(server.callsOf('servicequotas:GetAWSDefaultServiceQuota')).toHaveLength(1);
  });

  withDoctor(
    'burst workers: spot and on-demand quotas for all of them, burst types in the burst zones',
    async (server, run) => {
      server.account.offerings['g6.xlarge'] = ['ap-northeast-1a'];
      server.account.appliedQuotas['L-DB2E81BA'] = 4;
      const config = JSON.stringify({ burst: { maxWorkers: 2 } });
      const checks = expectFailedRun(await run({}, '--config', config), 3);
      expect(checks['GPU spot quota']?.text).toMatch(/the GPU fits, but 2 burst workers need 12 in all$/);
      expect(checks['GPU on-demand quota (burst fallback)']?.text).toMatch(
        /\(L-DB2E81BA\) is 4 vCPUs: 2 burst workers on on-demand need 8$/,
      );
      expect(checks['burst zones offer g5.xlarge']?.status).toBe('PASS');
      expect(checks['burst zones offer g6.xlarge']?.text).toBe(
        'neither burst zone (ap-northeast-1c, ap-northeast-1d) offers g6.xlarge',
      );
    },
  );

  withDoctor('a zone without the GPU type fails and names a zone that has it', async (server, run) => {
    server.account.offerings['g4dn.xlarge'] = ['ap-northeast-1c'];
    const result = await run();
    expectFailedRun(result, 1);
    expect(checksOf(result)['zone offers g4dn.xlarge']?.text).toBe(
      'ap-northeast-1a does not offer g4dn.xlarge (ap-northeast-1c do)',
    );
    expect(result.stdout).toContain('fix: set availabilityZone to ap-northeast-1c');
  });

  withDoctor('a spot price above spotMaxPriceUsd fails', async (server, run) => {
    server.account.spotPrices['g4dn.xlarge@ap-northeast-1a'] = 0.3512;
    expect(expectFailedRun(await run(), 1)['spot price']?.text).toMatch(
      /0\.3512 USD\/h on spot now, above spotMaxPriceUsd 0\.3: the GPU would not launch$/,
    );
  });

  withDoctor('no Docker engine fails', async (_server, run) => {
    const checks = expectFailedRun(await run({ CDK_DOCKER: path.join(dockerDir, 'no-such-docker') }), 1);
    expect(checks['Docker engine']?.text).toMatch(/^no Docker engine: .*no-such-docker is not installed/);
  });

  withDoctor(
    'an alarm e-mail not confirmed yet fails; before the deploy it is skipped',
    async (server, run) => {
      server.account.subscriptions = [{ protocol: 'email', endpoint: 'ops@example.com', confirmed: false }];
      const pending = await run({}, '--config', WITH_EMAIL);
      expect(expectFailedRun(pending, 1)['alarm e-mail']?.text).toBe(
        'ops@example.com has not confirmed the subscription: alarms reach nobody',
      );
      expect(pending.stdout).toContain(`aws sns subscribe --topic-arn ${ALARM_TOPIC_ARN} --protocol email`);

      server.account.subscriptions = undefined;
      const beforeDeploy = await run({}, '--config', WITH_EMAIL);
      expect(beforeDeploy.code).toBe(0);
      expect(statuses(beforeDeploy)['alarm e-mail']).toBe('SKIP');
    },
  );

  withDoctor(
    'throttling that outlasts the retries fails that check only; a passing 5xx is retried',
    async (server, run) => {
      server.fail('servicequotas:GetServiceQuota', awsError('ThrottlingException', 400));
      server.fail('ec2:DescribeSpotPriceHistory', awsError('InternalError', 500), 1);
      const result = await run();
      const checks = expectFailedRun(result, 1);
      expect(checks['GPU spot quota']).toEqual({
        status: 'FAIL',
        text: 'could not check: AWS is throttling requests right now: try again in a few seconds.',
      });
      expect(result.stdout).toContain('fix: run doctor again in a minute');
      expect(checks['spot price']?.status).toBe('PASS');
      expect(server.callsOf('ec2:DescribeSpotPriceHistory')).toHaveLength(2);
    },
  );

  withDoctor(
    'a 502 page from a proxy is a check that could not be made, not a crash',
    async (server, run) => {
      server.fail('ec2:DescribeAvailabilityZones', { kind: 'html', status: 502 });
      const checks = expectFailedRun(await run(), 1);
      expect(checks['zone offers g4dn.xlarge']?.text).toMatch(
        /^could not check: AWS answered ec2:DescribeAvailabilityZones with a server error \(HTTP 502\)/,
      );
      expect(checks['spot price']?.status).toBe('SKIP');
    },
  );

  withDoctor('access denied names the permission to grant', async (server, run) => {
    server.fail('ssm:GetParameter', awsError('AccessDeniedException', 400));
    const result = await run();
    expectFailedRun(result, 1);
    expect(result.stdout).toContain('fix: allow ssm:GetParameter for these credentials');
  });
});
