import { AutoScalingServiceException } from '@aws-sdk/client-auto-scaling';
import { EC2ServiceException } from '@aws-sdk/client-ec2';

/** An EC2 error as the SDK throws it: a 5xx status is a server fault (retried), else a client fault. */
export function ec2Error(name: string, status = 400): EC2ServiceException {
  return new EC2ServiceException({
    name,
    message: `${name} happened`,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

/** An Auto Scaling error as the SDK throws it. */
export function autoScalingError(
  name: string,
  status = 400,
  message = `${name} happened`,
): AutoScalingServiceException {
  return new AutoScalingServiceException({
    name,
    message,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}
