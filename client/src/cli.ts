#!/usr/bin/env node
/**
 * `edgeswarm`: build, submit and follow jobs from a terminal or a script. Exit codes: 0 done, 1 the
 * job failed or was cancelled, 2 usage or build error, 3 the hub refused the token or could not be reached.
 */
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command, CommanderError, Option } from 'commander';
import type { Job, JsonValue } from '@edgeswarm/shared';
import { Hub, range, type RunOptions, type SharedValue } from './hub.ts';
import { AuthError, BuildError, CancelledError, EdgeswarmError, JobFailedError, LimitError, ValidationError } from './errors.ts';
import { buildWorkModule } from './build.ts';
import { progressReporter } from './progress.ts';
import type { JobHandle } from './job-handle.ts';

export const EXIT = { done: 0, failed: 1, usage: 2, hub: 3 } as const;

class UsageError extends Error {}

const int = (flag: string, min: number, max: number) => (text: string) => {
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || n < min || n > max) throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
};

/** `START:END[:STEP]` (END exclusive). */
function parseRange(text: string) {
  const m = /^(-?\d+):(-?\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new UsageError(`--range must be START:END[:STEP] (END exclusive), e.g. 0:1000; got "${text}"`);
  return range(Number(m[1]), Number(m[2]), m[3] === undefined ? 1 : Number(m[3]));
}

function collectShared(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) throw new UsageError(`--shared must be NAME=FILE, got "${text}"`);
  return { ...previous, [text.slice(0, eq)]: text.slice(eq + 1) };
}

interface HubFlags {
  hub?: string;
  token?: string;
}

function hubFrom(flags: HubFlags): Hub {
  const url = flags.hub ?? process.env['EDGESWARM_URL'];
  const token = flags.token ?? process.env['EDGESWARM_TOKEN'];
  if (!url) throw new UsageError('no hub: give --hub URL or set EDGESWARM_URL (e.g. http://localhost:8080)');
  if (!token) throw new UsageError('no token: give --token TOKEN or set EDGESWARM_TOKEN (the admin token or a submitter token)');
  return new Hub({ url, token });
}

const hubOptions = (command: Command) =>
  command
    .addOption(new Option('--hub <url>', 'the hub (default: $EDGESWARM_URL)'))
    .addOption(new Option('--token <token>', 'the admin token or a submitter token (default: $EDGESWARM_TOKEN)'));

/** Reads inputs: a JSON array file, or NDJSON on stdin (one input per line). */
async function readInputs(options: { inputs?: string; stdin?: boolean }): Promise<JsonValue[]> {
  if (options.inputs) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(options.inputs, 'utf8'));
    } catch (err) {
      throw new UsageError(`--inputs ${options.inputs}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new UsageError(`--inputs ${options.inputs} must hold a JSON array of inputs`);
    return parsed as JsonValue[];
  }
  const values: JsonValue[] = [];
  let line = 0;
  for await (const text of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    line++;
    if (text.trim() === '') continue;
    try {
      values.push(JSON.parse(text) as JsonValue);
    } catch (err) {
      throw new UsageError(`--stdin line ${line} is not JSON: ${(err as Error).message}`);
    }
  }
  return values;
}

/** Where results go: stdout, or `--out FILE`. */
function output(path: string | undefined): { write(text: string): Promise<void>; close(): Promise<void> } {
  const stream: NodeJS.WritableStream = path ? createWriteStream(path) : process.stdout;
  return {
    write: (text) =>
      new Promise((resolve, reject) => {
        if (stream.write(text)) resolve();
        else stream.once('drain', resolve);
        stream.once('error', reject);
      }),
    close: () => (path ? new Promise((resolve) => (stream as WriteStream).end(resolve)) : Promise.resolve()),
  };
}

/** Prints every result as NDJSON, one line per input in input order. */
async function writeResults(job: JobHandle, path: string | undefined): Promise<void> {
  const out = output(path);
  let buffer = '';
  for await (const { value } of job.results()) {
    buffer += `${JSON.stringify(value)}\n`;
    if (buffer.length >= 64 * 1024) {
      await out.write(buffer);
      buffer = '';
    }
  }
  if (buffer !== '') await out.write(buffer);
  await out.close();
}

function describe(job: Job): string {
  const { total, completed, failed } = job.progress;
  const lines = [
    `${job.id}  ${job.name}`,
    `  status    ${job.status}`,
    `  progress  ${completed}/${total} done, ${failed} failed`,
    `  reduce    ${job.reduce}${job.result !== undefined ? ` = ${JSON.stringify(job.result)}` : ''}`,
  ];
  if (job.bundle) lines.push(`  bundle    ${job.bundle.blob} (${job.bundle.size} bytes)`);
  for (const file of job.shared ?? []) lines.push(`  shared    ${file.name}: ${file.blob} (${file.size} bytes, ${file.as})`);
  if (job.error) lines.push(`  error     ${job.error.code} at input ${job.error.input}: ${job.error.message}`);
  lines.push(`  created   ${job.createdAt}${job.finishedAt ? `, finished ${job.finishedAt}` : ''}`);
  return lines.join('\n');
}

async function runCommand(work: string, options: Record<string, unknown>): Promise<number> {
  const sources = ['range', 'inputs', 'stdin'].filter((k) => options[k] !== undefined && options[k] !== false);
  if (sources.length !== 1) throw new UsageError('give exactly one of --range START:END[:STEP], --inputs FILE.json and --stdin');
  const hub = hubFrom(options as HubFlags);
  const inputs = options['range'] ? (options['range'] as ReturnType<typeof range>) : await readInputs(options as { inputs?: string; stdin?: boolean });
  const runOptions: RunOptions = {};
  const copy = (from: string, to: keyof RunOptions) => {
    if (options[from] !== undefined) (runOptions as Record<string, unknown>)[to] = options[from];
  };
  copy('name', 'name');
  copy('reduce', 'reduce');
  copy('verify', 'verify');
  copy('replication', 'replication');
  copy('timeoutMs', 'timeoutMs');
  copy('maxAttempts', 'maxAttempts');
  copy('priority', 'priority');
  if (options['shared']) runOptions.shared = options['shared'] as Record<string, SharedValue>;
  const job = await hub.run(work, inputs, runOptions);
  for (const u of job.uploads) {
    process.stderr.write(`${u.what}: sha256:${u.hex} (${u.size} bytes) ${u.uploaded ? 'uploaded' : 'already on the hub'}\n`);
  }
  if (options['detach']) {
    process.stdout.write(`${job.id}\n`);
    return EXIT.done;
  }
  // Ctrl-C cancels the job (a second one exits at once).
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(EXIT.failed);
    interrupted = true;
    process.stderr.write(`\ncancelling job ${job.id}…\n`);
    void job.cancel().catch(() => undefined);
  };
  process.on('SIGINT', onSigint);
  const progress = progressReporter(process.stderr, job.id);
  job.on('progress', (event) => progress.update(event));
  let final: Job;
  try {
    final = await job.done;
  } catch (err) {
    // --json prints the final Job however the job ended (scripts need it most when it failed).
    if (options['json'] && (err instanceof JobFailedError || err instanceof CancelledError) && err.job) {
      process.stdout.write(`${JSON.stringify(err.job)}\n`);
    }
    throw err;
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
  }
  if (options['json']) {
    process.stdout.write(`${JSON.stringify(final)}\n`);
  } else if (final.reduce === 'collect') {
    await writeResults(job, options['out'] as string | undefined);
  } else {
    const out = output(options['out'] as string | undefined);
    await out.write(`${JSON.stringify(final.result ?? null)}\n`);
    await out.close();
  }
  return EXIT.done;
}

async function buildCommand(work: string): Promise<number> {
  const built = await buildWorkModule(work);
  process.stdout.write(`sha256:${built.hex}\n`);
  process.stdout.write(`${built.bytes.length} bytes\n`);
  process.stdout.write('largest inputs:\n');
  for (const input of built.inputs.slice(0, 10)) process.stdout.write(`  ${String(input.bytes).padStart(10)}  ${input.path}\n`);
  return EXIT.done;
}

/** One line per error, and the exit code it means. */
function failure(err: unknown): { code: number; message: string } {
  if (err instanceof CommanderError) return { code: err.exitCode === 0 ? EXIT.done : EXIT.usage, message: '' };
  if (err instanceof UsageError) return { code: EXIT.usage, message: err.message };
  if (err instanceof BuildError) return { code: EXIT.usage, message: `build error: ${err.message}` };
  if (err instanceof JobFailedError) return { code: EXIT.failed, message: err.message };
  if (err instanceof CancelledError) return { code: EXIT.failed, message: err.message };
  if (err instanceof AuthError) return { code: EXIT.hub, message: err.message };
  if (err instanceof ValidationError) return { code: EXIT.usage, message: `the hub refused the job: ${err.message}` };
  if (err instanceof LimitError) return { code: EXIT.usage, message: `limit: ${err.message}` };
  if (err instanceof EdgeswarmError) return { code: EXIT.failed, message: `${err.code}: ${err.message}` };
  return { code: EXIT.failed, message: `unexpected error: ${(err as Error)?.stack ?? String(err)}` };
}

export function program(): Command {
  const root = new Command('edgeswarm')
    .description('Build work modules and run jobs on an Edgeswarm hub.\nExit codes: 0 done, 1 job failed or cancelled, 2 usage or build error, 3 hub unreachable or token refused.')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  const intOption = (flags: string, description: string, min: number, max: number) => new Option(flags, description).argParser(int(flags.split(' ')[0] ?? flags, min, max));

  hubOptions(
    root
      .command('run')
      .description('build WORK, upload what the hub lacks, submit, show progress on stderr, then print the result (a numeric reducer) or every result as NDJSON (collect)')
      .argument('<work>', 'a work module: a .ts, .mts, .js or .mjs file whose default export is (input, ctx) => value')
      .addOption(new Option('--range <start:end[:step]>', 'inputs start, start+step, ... below end').argParser(parseRange))
      .addOption(new Option('--inputs <file.json>', 'inputs: a JSON array in a file'))
      .addOption(new Option('--stdin', 'inputs: NDJSON on stdin, one input per line'))
      .addOption(new Option('--shared <name=file>', 'a shared file every run reads as ctx.shared[name] (.json files parsed); repeatable').argParser(collectShared))
      .addOption(new Option('--reduce <reducer>', 'how results are combined').choices(['collect', 'sum', 'min', 'max', 'mean', 'count']))
      .addOption(new Option('--verify <mode>', 'result verification').choices(['none', 'replicate', 'adaptive']))
      .addOption(intOption('--replication <k>', 'devices that run each input (verify)', 1, 5))
      .addOption(new Option('--name <name>', 'shown on the dashboard'))
      .addOption(intOption('--timeout-ms <ms>', 'budget of one run', 100, 3_600_000))
      .addOption(intOption('--max-attempts <n>', 'failed runs of one input before the job fails', 1, 20))
      .addOption(intOption('--priority <p>', 'share of devices among running jobs', -10, 10))
      .addOption(new Option('--out <file>', 'write the result(s) to FILE instead of stdout'))
      .addOption(new Option('--json', "print the final Job as one JSON object on stdout's last line instead"))
      .addOption(new Option('--detach', 'print the job id and return at once (Ctrl-C then does nothing to the job)')),
  ).action(async (work: string, options: Record<string, unknown>) => {
    process.exitCode = await runCommand(work, options);
  });

  root
    .command('build')
    .description("build WORK without submitting: print the bundle's sha256, its size and its largest inputs")
    .argument('<work>', 'a work module')
    .action(async (work: string) => {
      process.exitCode = await buildCommand(work);
    });

  hubOptions(root.command('jobs').description('list the jobs this token may see, newest first')).action(async (options: HubFlags) => {
    const { total, jobs } = await hubFrom(options).jobs();
    for (const job of jobs) {
      process.stdout.write(`${job.id}  ${job.status.padEnd(9)}  ${String(job.progress.completed).padStart(8)}/${job.progress.total}  ${job.name}\n`);
    }
    process.stderr.write(`${jobs.length} of ${total} jobs\n`);
  });

  hubOptions(root.command('status').description('show one job').argument('<id>', 'the job id')).action(async (id: string, options: HubFlags) => {
    const job = await hubFrom(options).job(id).refresh();
    process.stdout.write(`${describe(job)}\n`);
    process.exitCode = job.status === 'failed' || job.status === 'cancelled' ? EXIT.failed : EXIT.done;
  });

  hubOptions(
    root
      .command('results')
      .description("stream a completed job's results as NDJSON, one line per input in input order")
      .argument('<id>', 'the job id')
      .addOption(new Option('--out <file>', 'write to FILE instead of stdout')),
  ).action(async (id: string, options: HubFlags & { out?: string }) => {
    await writeResults(hubFrom(options).job(id), options.out);
  });

  hubOptions(root.command('cancel').description('cancel a job').argument('<id>', 'the job id')).action(async (id: string, options: HubFlags) => {
    const job = await hubFrom(options).job(id).cancel();
    process.stdout.write(`${job.id} ${job.status}\n`);
  });
  return root;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.done;
  } catch (err) {
    const { code, message } = failure(err);
    if (message) process.stderr.write(`edgeswarm: ${message}\n`);
    return code;
  }
}

void main(process.argv).then((code) => {
  process.exitCode = code;
});
