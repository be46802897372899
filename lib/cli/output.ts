/** A bad command line: reported on one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Where the CLI writes; tests and embedders can capture it. */
export interface CliIO {
  /** Writes to standard output as is (no newline added). */
  stdout(text: string): void;
  /** Writes to standard error as is (no newline added). */
  stderr(text: string): void;
}

/** The process's standard streams. */
export const processIO: CliIO = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

/** Prints lines, and steps of a long operation as `label ... done (12 ms)`. */
export class Printer {
  constructor(private readonly io: CliIO) {}

  /** One line on standard output. */
  line(text = ''): void {
    this.io.stdout(`${text}\n`);
  }

  /** One line on standard error. */
  error(text: string): void {
    this.io.stderr(`${text}\n`);
  }

  /** Runs `fn`, showing `label ...` first and how it ended after. */
  async step<T>(label: string, fn: () => Promise<T>, done = 'done'): Promise<T> {
    this.io.stdout(`${label} ... `);
    const started = performance.now();
    try {
      const result = await fn();
      this.io.stdout(`${done} (${Math.round(performance.now() - started)} ms)\n`);
      return result;
    } catch (err) {
      this.io.stdout('failed\n');
      throw err;
    }
  }
}
