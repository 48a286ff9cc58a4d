import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import {
  DescribeAvailabilityZonesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeSpotPriceHistoryCommand,
  type EC2Client,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import {
  GetAWSDefaultServiceQuotaCommand,
  GetServiceQuotaCommand,
  type ServiceQuotasClient,
} from '@aws-sdk/client-service-quotas';
import { ListSubscriptionsByTopicCommand, type SNSClient } from '@aws-sdk/client-sns';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import type { AlarmTopic, TopicSubscription } from '../core/readiness.js';
import { stackOutputs } from './discovery.js';
import { callAws, FleetError, recordEndpointOnFailure, toFleetError } from './errors.js';

/** The clients the account checks use, all in the region being checked. */
export interface ReadinessClients {
  readonly sts: STSClient;
  readonly ssm: SSMClient;
  readonly quotas: ServiceQuotasClient;
  readonly ec2: EC2Client;
  readonly sns: SNSClient;
  readonly cloudFormation: CloudFormationClient;
}

/** What `gpu-manage doctor` reads of an account; each call throws a FleetError when AWS fails. */
export interface ReadinessPort {
  callerIdentity(): Promise<{ account: string; arn: string }>;
  /** The CDK bootstrap stack's version from its SSM parameter; undefined when there is none. */
  bootstrapVersion(qualifier: string): Promise<number | undefined>;
  /** An EC2 quota's value in this account, or AWS's default when none was ever applied. */
  ec2Quota(quotaCode: string): Promise<number>;
  /** The region's availability zones that are available to this account. */
  availableZones(): Promise<string[]>;
  /** For each instance type, the zones of the region that offer it. */
  zonesOffering(instanceTypes: readonly string[]): Promise<Map<string, Set<string>>>;
  /** The newest Linux spot price of a type in a zone, USD per hour; undefined when none is listed. */
  spotPrice(instanceType: string, zone: string, now: Date): Promise<number | undefined>;
  /** The alarm topic from the scaler stack's output; undefined while that stack is not deployed. */
  alarmTopic(scalerStackName: string): Promise<AlarmTopic | undefined>;
}

export function createReadinessProbe(clients: ReadinessClients): ReadinessPort {
  for (const client of Object.values(clients)) recordEndpointOnFailure(client);
  const { sts, ssm, quotas, ec2, sns, cloudFormation } = clients;
  return {
    async callerIdentity() {
      const answer = await callAws('sts:GetCallerIdentity', () => sts.send(new GetCallerIdentityCommand({})));
      return { account: answer.Account ?? '', arn: answer.Arn ?? '' };
    },

    async bootstrapVersion(qualifier) {
      try {
        const { Parameter } = await ssm.send(
          new GetParameterCommand({ Name: `/cdk-bootstrap/${qualifier}/version` }),
        );
        return Number(Parameter?.Value);
      } catch (error) {
        if ((error as { name?: string }).name === 'ParameterNotFound') return undefined;
        throw toFleetError(error, 'ssm:GetParameter');
      }
    },

    async ec2Quota(quotaCode) {
      const input = { ServiceCode: 'ec2', QuotaCode: quotaCode };
      try {
        const { Quota } = await quotas.send(new GetServiceQuotaCommand(input));
        return Quota?.Value ?? 0;
      } catch (error) {
        // Service Quotas returns no applied value for a quota that was never changed: the default holds.
        if ((error as { name?: string }).name !== 'NoSuchResourceException')
          throw toFleetError(error, 'servicequotas:GetServiceQuota');
      }
      const { Quota } = await callAws('servicequotas:GetAWSDefaultServiceQuota', () =>
        quotas.send(new GetAWSDefaultServiceQuotaCommand(input)),
      );
      return Quota?.Value ?? 0;
    },

    async availableZones() {
      const { AvailabilityZones = [] } = await callAws('ec2:DescribeAvailabilityZones', () =>
        ec2.send(
          new DescribeAvailabilityZonesCommand({
            Filters: [
              { Name: 'zone-type', Values: ['availability-zone'] },
              { Name: 'state', Values: ['available'] },
            ],
          }),
        ),
      );
      return AvailabilityZones.map((zone) => zone.ZoneName ?? '').filter((zone) => zone !== '');
    },

    async zonesOffering(instanceTypes) {
      const offered = new Map<string, Set<string>>(instanceTypes.map((type) => [type, new Set<string>()]));
      let nextToken: string | undefined;
      do {
        const answer = await callAws('ec2:DescribeInstanceTypeOfferings', () =>
          ec2.send(
            new DescribeInstanceTypeOfferingsCommand({
              LocationType: 'availability-zone',
              Filters: [{ Name: 'instance-type', Values: [...instanceTypes] }],
              NextToken: nextToken,
            }),
          ),
        );
        for (const offering of answer.InstanceTypeOfferings ?? []) {
          if (offering.InstanceType && offering.Location)
            offered.get(offering.InstanceType)?.add(offering.Location);
        }
        nextToken = answer.NextToken;
      } while (nextToken);
      return offered;
    },

    async spotPrice(instanceType, zone, now) {
      // A StartTime of now answers with the price in force now.
      const { SpotPriceHistory = [] } = await callAws('ec2:DescribeSpotPriceHistory', () =>
        ec2.send(
          new DescribeSpotPriceHistoryCommand({
            // The SDK's enum lags EC2's types; any name EC2 knows is valid here.
            InstanceTypes: [instanceType as _InstanceType],
            ProductDescriptions: ['Linux/UNIX'],
            AvailabilityZone: zone,
            StartTime: now,
          }),
        ),
      );
      const newest = [...SpotPriceHistory]
        .filter((entry) => entry.AvailabilityZone === zone && entry.SpotPrice !== undefined)
        .sort((a, b) => (b.Timestamp?.getTime() ?? 0) - (a.Timestamp?.getTime() ?? 0))[0];
      return newest ? Number(newest.SpotPrice) : undefined;
    },

    async alarmTopic(scalerStackName) {
      let arn: string | undefined;
      try {
        arn = (await stackOutputs(cloudFormation, scalerStackName)).AlarmTopicArn;
      } catch (error) {
        if (error instanceof FleetError && error.code === 'NotFound') return undefined;
        throw error;
      }
      if (!arn) return undefined;
      const subscriptions: TopicSubscription[] = [];
      let nextToken: string | undefined;
      do {
        const answer = await callAws('sns:ListSubscriptionsByTopic', () =>
          sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: arn, NextToken: nextToken })),
        );
        for (const s of answer.Subscriptions ?? []) {
          subscriptions.push({
            protocol: s.Protocol ?? '',
            endpoint: s.Endpoint ?? '',
            confirmed: s.SubscriptionArn !== undefined && s.SubscriptionArn.startsWith('arn:'),
          });
        }
        nextToken = answer.NextToken;
      } while (nextToken);
      return { arn, subscriptions };
    },
  };
}
