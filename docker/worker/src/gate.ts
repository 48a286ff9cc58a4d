/**
 * Holds receives closed while the worker is paused or draining. The consumer keeps its single
 * polling loop: it waits here before each receive instead of being stopped and restarted
 * (a restart while the old poll cycle is finishing starts a second loop: two jobs on one GPU).
 */
export class ReceiveGate {
  private waiters: Array<() => void> = [];
  private readonly closedFor = new Set<string>();

  get open(): boolean {
    return this.closedFor.size === 0;
  }

  close(reason: string): void {
    this.closedFor.add(reason);
  }

  reopen(reason: string): void {
    this.closedFor.delete(reason);
    if (!this.open) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  pass(): Promise<void> {
    return this.open ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}
