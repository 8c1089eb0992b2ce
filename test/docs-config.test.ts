// docs/configuration.md's table names every variable src/config.ts reads.
import { readFile } from 'node:fs/promises';
import test from 'ava';

test('every environment variable the configuration reads is in the table of docs/configuration.md', async (t) => {
  const config = await readFile('src/config.ts', 'utf8');
  const table = await readFile('docs/configuration.md', 'utf8');
  const names = [...config.matchAll(/(?:text|integer|flag|postgresUrl|httpUrl|otlpProtocol)\('([A-Z_]+)'/g)].map((match) => match[1] ?? '');
  t.true(names.length >= 15, `found ${names.length} variables`);
  for (const name of new Set(names)) t.true(table.includes(`\`${name}\``), `${name} is missing from docs/configuration.md`);
});
