/** Runs async sections one at a time, in arrival order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** No section is running or waiting. */
  get idle(): boolean {
    return this.waiting === 0;
  }

  run<T>(section: () => Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(async () => {
      try {
        return await section();
      } finally {
        this.waiting--;
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }
}
