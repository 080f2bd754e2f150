/**
 * Everything the bench sets up registers how to undo it here; `run` undoes it all in reverse
 * order, once, whether the bench ends normally, fails, or is interrupted.
 */
export class Cleanup {
  private readonly steps: Array<{ what: string; fn: () => unknown }> = [];
  private done: Promise<void> | undefined;

  add(what: string, fn: () => unknown): void {
    this.steps.push({ what, fn });
  }

  run(): Promise<void> {
    this.done ??= (async () => {
      for (const step of this.steps.splice(0).reverse()) {
        try {
          await step.fn();
        } catch (err) {
          process.stderr.write(`bench: cleanup: ${step.what} failed: ${(err as Error).message}\n`);
        }
      }
    })();
    return this.done;
  }

  /** Runs the cleanup on SIGINT/SIGTERM/SIGHUP and on a crash, then exits. */
  installSignalHandlers(): void {
    const bail = (code: number, why: string) => {
      process.stderr.write(`\nbench: ${why}, tearing down...\n`);
      this.run().finally(() => process.exit(code));
    };
    process.once('SIGINT', () => bail(130, 'interrupted'));
    process.once('SIGTERM', () => bail(143, 'terminated'));
    process.once('SIGHUP', () => bail(129, 'hung up'));
    process.once('uncaughtException', (err) => bail(1, `uncaught exception: ${err.stack ?? err}`));
    process.once('unhandledRejection', (err) => bail(1, `unhandled rejection: ${(err as Error)?.stack ?? err}`));
  }
}
