import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag acknowledgements shared by both hosts, each on the narrowest construct and with the
 * reason a reviewer needs. Rules that are simply met (encryption, SSL, IMDSv2, ...) need none.
 */

/** The instance role's findings that follow from how every host is built. */
export function acknowledgeHostRole(role: IConstruct): void {
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
    reason:
      "Session Manager is the shell access of the hosts (no SSH by default); AWS maintains this policy for exactly that agent. Its ssm:GetParameter(s) on every parameter is cut back by a Deny to the host's own settings parameter (FleetHost.grantHostAccess).",
  });
}
