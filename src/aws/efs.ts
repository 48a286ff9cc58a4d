import { DescribeFileSystemsCommand, type EFSClient } from '@aws-sdk/client-efs';
import { recordEndpointOnFailure, toFleetError } from './errors.js';

export interface FileSystemInfo {
  readonly fileSystemId: string;
  /** creating | available | updating | deleting | deleted | error */
  readonly state: string;
  /** Metered size; EFS updates it about every hour. */
  readonly sizeBytes: number;
}

export async function describeFileSystem(client: EFSClient, fileSystemId: string): Promise<FileSystemInfo> {
  recordEndpointOnFailure(client);
  try {
    const { FileSystems = [] } = await client.send(
      new DescribeFileSystemsCommand({ FileSystemId: fileSystemId }),
    );
    const fileSystem = FileSystems[0];
    return {
      fileSystemId,
      state: fileSystem?.LifeCycleState ?? 'unknown',
      sizeBytes: fileSystem?.SizeInBytes?.Value ?? 0,
    };
  } catch (error) {
    throw toFleetError(error, 'elasticfilesystem:DescribeFileSystems');
  }
}
