import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Where role `all` notes its simulator's URL in DATA_DIR (its port is any free one). */
export const PROCESSOR_URL_FILE = 'processor.url';

/** The simulator's URL that a running `npm start` noted in `dataDir`, if any. */
export function notedProcessorUrl(dataDir: string): string | undefined {
  try {
    const url = readFileSync(path.join(dataDir, PROCESSOR_URL_FILE), 'utf8').trim();
    return url === '' ? undefined : url;
  } catch {
    return undefined;
  }
}
