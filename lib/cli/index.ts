/**
 * The `tasker` command line: `migrate`, `worker`, `handlers` and `demo`.
 *
 * Exit codes: 0 success; 1 the operation failed (e.g. the database does not answer, or
 * `migrate --check` found pending migrations); 2 a bad command line.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { StorageConfig } from '../storage';
import { VERSION } from '../version';
import { demo } from './commands/demo';
import { handlers } from './commands/handlers';
import { migrate } from './commands/migrate';
import { worker } from './commands/worker';
import { DATABASE_ENV, parseDatabase } from './database';
import { Printer, processIO, UsageError, type CliIO } from './output';

export { parseDatabase } from './database';
export { UsageError, type CliIO } from './output';
export type { TaskerModule } from './loadModule';

function database(value: string): StorageConfig {
  try {
    return parseDatabase(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message.replace(/^--database:? /, ''));
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError('must be an integer from 0 to 65535');
  }
  return n;
}

const DATABASE_HELP =
  `a postgres:// URL (?schema=name picks the schema), sqlite:<path>, or a file ending ` +
  `.sqlite or .db; default $${DATABASE_ENV}`;

/** Builds the program; `exit` receives the exit code of the command that ran. */
export function buildProgram(io: CliIO, exit: (code: number) => void): Command {
  const print = new Printer(io);
  const program = new Command('tasker')
    .description('Tasker for Node: migrations, worker processes, the handler catalogue, the demo.')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout(s),
      writeErr: (s) => io.stderr(s),
      // Commander's errors may span two lines (a suggestion); the CLI promises one.
      outputError: (s, write) => write(`tasker: ${s.trim().replace(/\s*\n\s*/g, ' ')}\n`),
    });

  program
    .command('migrate')
    .description('apply pending migrations to the database (or show them with --status)')
    .addOption(new Option('-d, --database <url>', DATABASE_HELP).argParser(database))
    .option('--status', 'list applied and pending migrations; apply nothing')
    .option('--check', 'like --status, but exit with code 1 when migrations are pending')
    .action(async (opts: { database?: StorageConfig; status?: boolean; check?: boolean }) => {
      const env = process.env[DATABASE_ENV];
      const db = opts.database ?? (env ? database(env) : undefined);
      if (!db) throw new UsageError(`missing --database (or ${DATABASE_ENV})`);
      exit(await migrate({ ...opts, database: db }, print));
    });

  program
    .command('worker')
    .description('run a worker-only process (no HTTP) for the handlers a module registers')
    .requiredOption(
      '-c, --config <file>',
      'a JS or TS module exporting (tasker) => void, or a config with register(tasker)',
    )
    .addOption(new Option('-d, --database <url>', DATABASE_HELP).argParser(database))
    .addOption(
      new Option('--concurrency <n>', 'steps run at once (default 10)').argParser(positiveInt),
    )
    .option('--no-migrate', 'do not apply migrations on start')
    .option('-q, --quiet', 'do not print a line per finished task')
    .action(async (opts) => exit(await worker(opts, print)));

  program
    .command('handlers')
    .description('print the handler catalogue a module registers, with each DAG as text')
    .requiredOption(
      '-c, --config <file>',
      'a JS or TS module exporting (tasker) => void, or a config with register(tasker)',
    )
    .option('--json', 'print JSON instead of text')
    .action(async (opts: { config: string; json?: boolean }) => exit(await handlers(opts, print)));

  program
    .command('demo')
    .description('run the demo app (examples/demo/server.ts), as npm run demo does')
    .addOption(new Option('-p, --port <port>', 'port to listen on (default 3000)').argParser(port))
    .option('--host <host>', 'interface to bind (default 127.0.0.1)')
    .action(async (opts: { port?: number; host?: string }) => exit(await demo(opts, print)));

  return program;
}

/** Runs the CLI with `argv` (as `process.argv`); resolves with the exit code. */
export async function run(argv: string[], io: CliIO = processIO): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  if (argv.length <= 2) {
    io.stderr(
      `tasker: error: missing command (migrate, worker, handlers, demo); see tasker --help\n`,
    );
    return 2;
  }
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
    }
    const message = ((err as Error)?.message ?? String(err)).replace(/\s*\n\s*/g, ' ');
    if (err instanceof UsageError) {
      io.stderr(`tasker: error: ${message}\n`);
      return 2;
    }
    io.stderr(`tasker: ${message}\n`);
    return 1;
  }
}

/** The entry point of `bin/tasker.js`. Leaves the process to exit once nothing is pending. */
export function main(argv: string[] = process.argv): void {
  run(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`tasker: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) main();
