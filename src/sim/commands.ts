import type { Command } from 'commander';
import type { CliIO } from '../cli/io.js';

/**
 * Registers `gpu-manage simulate` and `gpu-manage cost` on the CLI program.
 * Placeholder until the economics issue (#6) fills it; heavy modules must be imported lazily
 * inside the actions so `gpu-manage --help` stays fast.
 */
export function registerEconomicsCommands(program: Command, io: CliIO): void {
  void program;
  void io;
}
