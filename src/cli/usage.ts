/** A mistake on the command line: the command prints it with its usage and exits 2. */
export class UsageError extends Error {}

/** What a parser does with an argument it has no case for: `--help`/`-h` asks for the usage alone, anything else is unknown. */
export function otherArgument(flag: string | undefined): never {
  if (flag === '--help' || flag === '-h') throw new UsageError('');
  throw new UsageError(`unknown argument "${flag}"`);
}

/**
 * `parse(argv)`, or, when it throws a UsageError, undefined after writing `command: message` (when
 * there is a message) and the usage to `err`: the caller then exits 2. Other errors propagate.
 */
export function parseOrShowUsage<T>(
  command: string,
  usage: string,
  parse: (argv: string[]) => T,
  argv: string[],
  err: NodeJS.WritableStream,
): T | undefined {
  try {
    return parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (e.message) err.write(`${command}: ${e.message}\n`);
    err.write(`${usage}\n`);
    return undefined;
  }
}
