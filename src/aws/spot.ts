import { DescribeSpotInstanceRequestsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { callAws, recordEndpointOnFailure } from './errors.js';

/** A persistent spot request as status shows it. */
export interface SpotRequestInfo {
  readonly requestId: string;
  /** open | active | closed | cancelled | failed, and the finer status code (e.g. fulfilled, instance-stopped-by-price). */
  readonly state: string;
  readonly statusCode?: string;
  readonly validUntil?: Date;
  readonly type?: string;
  readonly interruptionBehavior?: string;
}

export async function describeSpotRequest(client: EC2Client, requestId: string): Promise<SpotRequestInfo> {
  recordEndpointOnFailure(client);
  const { SpotInstanceRequests = [] } = await callAws('ec2:DescribeSpotInstanceRequests', () =>
    client.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [requestId] })),
  );
  const request = SpotInstanceRequests[0];
  return {
    requestId,
    state: request?.State ?? 'unknown',
    statusCode: request?.Status?.Code,
    validUntil: request?.ValidUntil,
    type: request?.Type,
    interruptionBehavior: request?.InstanceInterruptionBehavior,
  };
}
