import { DescribeFileSystemsCommand, type EFSClient } from '@aws-sdk/client-efs';
import { callAws, recordEndpointOnFailure } from './errors.js';

export interface FileSystemInfo {
  readonly fileSystemId: string;
  /** creating | available | updating | deleting | deleted | error */
  readonly state: string;
  /** Metered size; EFS updates it about every hour. */
  readonly sizeBytes: number;
}

export async function describeFileSystem(client: EFSClient, fileSystemId: string): Promise<FileSystemInfo> {
  recordEndpointOnFailure(client);
  const { FileSystems = [] } = await callAws('elasticfilesystem:DescribeFileSystems', () =>
    client.send(new DescribeFileSystemsCommand({ FileSystemId: fileSystemId })),
  );
  const fileSystem = FileSystems[0];
  return {
    fileSystemId,
    state: fileSystem?.LifeCycleState ?? 'unknown',
    sizeBytes: fileSystem?.SizeInBytes?.Value ?? 0,
  };
}
