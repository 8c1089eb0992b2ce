// The command line of idempotence-conformance, parsed into the options of runConformance.
import { parseArgs } from 'node:util';
import { DEFAULT_CONCURRENCY } from './run.ts';
import type { ConformanceOptions } from './types.ts';

export const USAGE =
  "usage: idempotence-conformance --base <url> [--header 'Name: value']… --action '<JSON of an action that succeeds>' " +
  "[--other-action '<JSON>'] [--concurrency 50]";

export type Parsed = { kind: 'run'; options: ConformanceOptions } | { kind: 'help' } | { kind: 'usage-error'; message: string };

const MAX_CONCURRENCY = 1000;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

class UsageError extends Error {}

function json(flag: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${flag} is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

function baseUrl(text: string | undefined): string {
  if (text === undefined) throw new UsageError('--base is required');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--base ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--base must be an http or https URL, not ${url.protocol}`);
  if (url.search !== '' || url.hash !== '') throw new UsageError('--base may not have a query or a fragment');
  return url.href.replace(/\/+$/, '');
}

function headers(lines: readonly string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trim();
    if (!TOKEN.test(name)) throw new UsageError(`--header ${JSON.stringify(line)} is not 'Name: value'`);
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) throw new UsageError(`--header ${name}: the value may not contain NUL, CR or LF`);
    result[name] = value;
  }
  return result;
}

function concurrency(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CONCURRENCY;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1 && value <= MAX_CONCURRENCY)) throw new UsageError(`--concurrency must be an integer from 1 to ${MAX_CONCURRENCY}, not ${JSON.stringify(text)}`);
  return value;
}

export function parseCommandLine(argv: readonly string[]): Parsed {
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        base: { type: 'string' },
        header: { type: 'string', multiple: true },
        action: { type: 'string' },
        'other-action': { type: 'string' },
        concurrency: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help === true) return { kind: 'help' };
    const base = baseUrl(values.base);
    if (values.action === undefined) throw new UsageError('--action is required');
    const action = json('--action', values.action);
    const other = values['other-action'];
    const options: ConformanceOptions = {
      base,
      headers: headers(values.header ?? []),
      action,
      concurrency: concurrency(values.concurrency),
      ...(other === undefined ? {} : { otherAction: json('--other-action', other) }),
    };
    return { kind: 'run', options };
  } catch (error) {
    // parseArgs throws TypeErrors for unknown options and missing values; both are usage errors.
    if (error instanceof UsageError || error instanceof TypeError) return { kind: 'usage-error', message: error.message };
    throw error;
  }
}
