import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeInstanceTypeOfferingsCommand,
  DescribeSpotPriceHistoryCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  GetAWSDefaultServiceQuotaCommand,
  GetServiceQuotaCommand,
  NoSuchResourceException,
  ServiceQuotasClient,
} from '@aws-sdk/client-service-quotas';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { createReadinessProbe } from '../../src/aws/readiness';
import { FleetError } from '../../src/aws/errors';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const quotas = mockClient(ServiceQuotasClient);
const sns = mockClient(SNSClient);
const cfn = mockClient(CloudFormationClient);

const probe = () =>
  createReadinessProbe({
    sts: new STSClient({ region: 'ap-northeast-1' }),
    ssm: new SSMClient({ region: 'ap-northeast-1' }),
    quotas: new ServiceQuotasClient({ region: 'ap-northeast-1' }),
    ec2: new EC2Client({ region: 'ap-northeast-1' }),
    sns: new SNSClient({ region: 'ap-northeast-1' }),
    cloudFormation: new CloudFormationClient({ region: 'ap-northeast-1' }),
  });

beforeEach(() => {
  for (const mock of [ec2, ssm, quotas, sns, cfn]) mock.reset();
});

describe('the doctor’s AWS reads', () => {
  it('reads an applied quota, and AWS’s default when none was ever applied', async () => {
    quotas.on(GetServiceQuotaCommand, { QuotaCode: 'L-DB2E81BA' }).resolves({ Quota: { Value: 8 } });
    quotas
      .on(GetServiceQuotaCommand, { QuotaCode: 'L-3819A6DF' })
      .rejects(new NoSuchResourceException({ message: 'no applied value', $metadata: {} }));
    quotas.on(GetAWSDefaultServiceQuotaCommand).resolves({ Quota: { Value: 0 } });
    expect(await probe().ec2Quota('L-DB2E81BA')).toBe(8);
    expect(await probe().ec2Quota('L-3819A6DF')).toBe(0);
    expect(quotas).toHaveReceivedCommandWith(GetAWSDefaultServiceQuotaCommand, {
      ServiceCode: 'ec2',
      QuotaCode: 'L-3819A6DF',
    });
  });

  it('reads a missing bootstrap parameter as "not bootstrapped", and other failures as FleetErrors', async () => {
    ssm.on(GetParameterCommand).rejectsOnce(new ParameterNotFound({ message: 'nope', $metadata: {} }));
    expect(await probe().bootstrapVersion('hnb659fds')).toBeUndefined();
    expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: '/cdk-bootstrap/hnb659fds/version' });
    ssm
      .on(GetParameterCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(probe().bootstrapVersion('hnb659fds')).rejects.toMatchObject({
      code: 'AccessDenied',
      missingPermission: 'ssm:GetParameter',
    });
  });

  it('follows every page of offerings and keeps each type’s zones', async () => {
    ec2
      .on(DescribeInstanceTypeOfferingsCommand)
      .resolvesOnce({
        InstanceTypeOfferings: [{ InstanceType: 'g4dn.xlarge', Location: 'ap-northeast-1a' }],
        NextToken: 'page-2',
      })
      .resolvesOnce({ InstanceTypeOfferings: [{ InstanceType: 'g5.xlarge', Location: 'ap-northeast-1c' }] });
    expect(await probe().zonesOffering(['g4dn.xlarge', 'g5.xlarge', 'g6.xlarge'])).toEqual(
      new Map([
        ['g4dn.xlarge', new Set(['ap-northeast-1a'])],
        ['g5.xlarge', new Set(['ap-northeast-1c'])],
        ['g6.xlarge', new Set()],
      ]),
    );
    expect(ec2).toHaveReceivedNthCommandWith(2, DescribeInstanceTypeOfferingsCommand, {
      LocationType: 'availability-zone',
      Filters: [{ Name: 'instance-type', Values: ['g4dn.xlarge', 'g5.xlarge', 'g6.xlarge'] }],
      NextToken: 'page-2',
    });
  });

  it('takes the newest spot price of the zone asked for', async () => {
    const now = new Date('2026-12-06T06:00:00Z');
    const price = (SpotPrice: string, at: string) => ({
      AvailabilityZone: 'ap-northeast-1a',
      SpotPrice,
      Timestamp: new Date(at),
    });
    ec2.on(DescribeSpotPriceHistoryCommand).resolves({
      SpotPriceHistory: [price('0.2000', '2026-12-06T01:00:00Z'), price('0.2500', '2026-12-06T05:00:00Z')],
    });
    expect(await probe().spotPrice('g4dn.xlarge', 'ap-northeast-1a', now)).toBe(0.25);
    expect(ec2).toHaveReceivedCommandWith(DescribeSpotPriceHistoryCommand, {
      InstanceTypes: ['g4dn.xlarge'],
      ProductDescriptions: ['Linux/UNIX'],
      AvailabilityZone: 'ap-northeast-1a',
      StartTime: now,
    });
  });

  it('finds the alarm topic by the scaler stack’s output and reads every page of its subscriptions', async () => {
    const arn = 'arn:aws:sns:ap-northeast-1:123456789012:alarms';
    cfn.on(DescribeStacksCommand, { StackName: 'GpuFleet-Scaler' }).resolves({
      Stacks: [
        {
          StackName: 'GpuFleet-Scaler',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [{ OutputKey: 'AlarmTopicArn', OutputValue: arn }],
        },
      ],
    });
    sns
      .on(ListSubscriptionsByTopicCommand)
      .resolvesOnce({
        Subscriptions: [
          { Protocol: 'email', Endpoint: 'a@example.com', SubscriptionArn: 'PendingConfirmation' },
        ],
        NextToken: 'next',
      })
      .resolvesOnce({
        Subscriptions: [{ Protocol: 'email', Endpoint: 'b@example.com', SubscriptionArn: `${arn}:1234` }],
      });
    expect(await probe().alarmTopic('GpuFleet-Scaler')).toEqual({
      arn,
      subscriptions: [
        { protocol: 'email', endpoint: 'a@example.com', confirmed: false },
        { protocol: 'email', endpoint: 'b@example.com', confirmed: true },
      ],
    });
  });

  it('reads a scaler stack that does not exist yet as "no topic"', async () => {
    cfn
      .on(DescribeStacksCommand)
      .rejects(
        Object.assign(new Error('Stack with id GpuFleet-Scaler does not exist'), { name: 'ValidationError' }),
      );
    expect(await probe().alarmTopic('GpuFleet-Scaler')).toBeUndefined();
    cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('slow down'), { name: 'Throttling' }));
    await expect(probe().alarmTopic('GpuFleet-Scaler')).rejects.toBeInstanceOf(FleetError);
  });
});
