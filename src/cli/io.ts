/**
 * What every `gpu-manage` command writes to and exits with. Commands take a CliIO instead of
 * touching process.stdout, so tests can capture output and the same code runs without a TTY.
 */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** True when colours and spinners are allowed: stdout is a TTY and NO_COLOR is not set. */
  readonly color: boolean;
  readonly isTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Bad arguments: usage goes to stderr and the process exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An expected failure (no credentials, instance not found, ...): one line on stderr, no stack trace. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** Rows as aligned columns, two spaces apart, without trailing blanks. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}
