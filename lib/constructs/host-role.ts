import * as iam from 'aws-cdk-lib/aws-iam';
import { acknowledgeHostRole } from '../nag.js';
import { Construct } from 'constructs';
import type * as efs from 'aws-cdk-lib/aws-efs';
import type * as s3assets from 'aws-cdk-lib/aws-s3-assets';

export interface HostRoleProps {
  /** What the role is for, for its description. */
  readonly purpose: string;
  /** The shared file system the host mounts (IAM-authorised) and writes. */
  readonly fileSystem: efs.IFileSystem;
  /** The host's files (compose.yaml, unit, scripts) that user data downloads. */
  readonly hostFiles: s3assets.Asset;
}

/**
 * An instance role with what every host needs: Session Manager for shell access (no SSH by
 * default), the EFS mount, and read access to its own files. Callers add what is theirs alone.
 */
export class HostRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: HostRoleProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `gpu-fleet ${props.purpose}`,
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    // Root access, not just read/write: the first boot (as root) creates the shared folders
    // and hands them to the containers' uid 1000; without it EFS squashes root to nobody.
    props.fileSystem.grantRootAccess(this.role);
    props.hostFiles.grantRead(this.role);
    acknowledgeHostRole(
      this.role,
      'arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*',
    );
  }
}
