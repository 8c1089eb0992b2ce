// `npm run sdk:generate`: rewrites sdk/schema.d.ts from openapi.yaml (see scripts/sdk-schema.ts).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderSdkSchema, SCHEMA_FILE } from './sdk-schema.ts';

await writeFile(SCHEMA_FILE, await renderSdkSchema());
console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
