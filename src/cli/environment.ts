import type { CliIO } from './io.js';

/** What every gpu-manage command runs against: its output, its clock and where it was started. */
export interface CliEnvironment {
  readonly io: CliIO;
  readonly clock: () => Date;
  /** Where cdk.json is read from. */
  readonly cwd: string;
  readonly version: string;
}
