#!/usr/bin/env node
// idempotence-conformance: runs the conformance rows against a server and prints one line each.
// Exit code 0 when every row passed, 1 when one failed, 2 for a usage error.
import { parseCommandLine, USAGE } from './args.ts';
import { runConformance } from './run.ts';

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseCommandLine(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (parsed.kind === 'usage-error') {
    process.stderr.write(`idempotence-conformance: ${oneLine(parsed.message)}. ${USAGE}\n`);
    return 2;
  }
  const report = await runConformance({ ...parsed.options, log: (line) => process.stdout.write(`${line}\n`) });
  return report.failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`idempotence-conformance: ${oneLine(error instanceof Error ? error.message : String(error))}\n`);
    process.exitCode = 1;
  },
);
