// Runs every row in order, each on contexts of its own, and reports one line per row.
import { Client } from './http.ts';
import { concurrencyRow } from './rows-concurrency.ts';
import { createByPutRow, createRow, executeRow, replayRow } from './rows-execute.ts';
import { keyedRow, malformedKeyRow } from './rows-keyed.ts';
import { readRow } from './rows-reads.ts';
import { cancelRow, notFoundRow, preconditionRequiredRow, staleRow } from './rows-refusals.ts';
import { no5xxRow, problemsRow } from './rows-run.ts';
import type { CheckResult, ConformanceOptions, ConformanceReport, Kit, Row } from './types.ts';

export const DEFAULT_CONCURRENCY = 50;

/** In order; the last two look back over every answer the others received. */
export const rows: readonly Row[] = [
  createRow,
  executeRow,
  replayRow,
  createByPutRow,
  staleRow,
  preconditionRequiredRow,
  notFoundRow,
  cancelRow,
  concurrencyRow,
  keyedRow,
  malformedKeyRow,
  readRow,
  problemsRow,
  no5xxRow,
];

/** `ok   <name>` or `FAIL <name>: <detail>`. */
export function formatResult(result: CheckResult): string {
  return result.ok ? `ok   ${result.name}` : `FAIL ${result.name}: ${result.detail ?? 'failed'}`;
}

export function formatSummary(report: Pick<ConformanceReport, 'passed' | 'failed'>): string {
  return `${report.passed} passed, ${report.failed} failed`;
}

async function runRow(row: Row, kit: Kit): Promise<CheckResult> {
  const name = row.name(kit);
  try {
    await row.run(kit);
    return { id: row.id, name, ok: true };
  } catch (error) {
    // A network error or a timeout fails the row like a wrong answer does; nothing escapes.
    const detail = error instanceof Error ? error.message : String(error);
    return { id: row.id, name, ok: false, detail: detail.replace(/\s*\n\s*/g, ' ') };
  }
}

export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, not ${concurrency}`);
  if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, not ${options.timeoutMs}`);
  const kit: Kit = {
    client: new Client(options.base, options.headers, options.timeoutMs),
    action: options.action,
    otherAction: options.otherAction,
    weak: options.otherAction === undefined,
    concurrency,
  };
  const results: CheckResult[] = [];
  for (const row of rows) {
    const result = await runRow(row, kit);
    results.push(result);
    options.log?.(formatResult(result));
  }
  const passed = results.filter((result) => result.ok).length;
  const report = { results, passed, failed: results.length - passed };
  options.log?.(formatSummary(report));
  return report;
}
