// sdk/schema.d.ts is generated from openapi.yaml and checked in; it must be what the generator
// renders from the spec as it is now.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { renderSdkSchema, SCHEMA_FILE } from '../../scripts/sdk-schema.ts';

test('sdk/schema.d.ts is up to date with openapi.yaml', async (t) => {
  const [checkedIn, fresh] = await Promise.all([readFile(SCHEMA_FILE, 'utf8'), renderSdkSchema()]);
  if (checkedIn === fresh) return t.pass();
  // Name the first difference rather than diffing 2,500 lines.
  const [have, want] = [checkedIn.split('\n'), fresh.split('\n')];
  let line = 0;
  while (have[line] === want[line]) line++;
  t.fail(
    `sdk/schema.d.ts differs from what openapi.yaml generates: run npm run sdk:generate\n` +
      `first difference at line ${line + 1}:\n  checked in: ${have[line] ?? '(end of file)'}\n  generated:  ${want[line] ?? '(end of file)'}`,
  );
});

test('the generated action types carry the wire values of their discriminator', async (t) => {
  // openapi-typescript would otherwise type `type` as the schema name ("DepositAction"): see
  // addImpliedDiscriminatorMappings in scripts/sdk-schema.ts.
  const fresh = await renderSdkSchema();
  for (const tag of ['deposit', 'transfer', 'payment']) t.regex(fresh, new RegExp(`\\btype: "${tag}";`));
  t.notRegex(fresh, /type: "(Deposit|Transfer|Payment)Action"/);
});
