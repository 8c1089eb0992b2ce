// Every code sample of docs/*.md that says where it is from (`<!-- from: path -->` before the
// block) is still, line for line, in that file — which CI compiles and runs. So no sample in the
// docs can drift from working code.
import { readdir, readFile } from 'node:fs/promises';
import test from 'ava';

const SAMPLE = /<!-- from: (\S+) -->\s*```ts\n([\s\S]*?)```/g;

test('the docs\' code samples are excerpts of files that are compiled and tested', async (t) => {
  const docs = (await readdir('docs')).filter((name) => name.endsWith('.md'));
  let samples = 0;
  for (const doc of docs) {
    const text = await readFile(`docs/${doc}`, 'utf8');
    for (const [, source, code] of text.matchAll(SAMPLE)) {
      samples++;
      const file = await readFile(source ?? '', 'utf8');
      t.true(file.includes((code ?? '').trimEnd()), `docs/${doc}: the sample from ${source} is not in that file any more:\n${code}`);
    }
    // A TypeScript sample without a source is not checked by anything: every one must name its file.
    const unsourced = [...text.matchAll(/(<!-- from: \S+ -->\s*)?```ts\n/g)].filter((match) => match[1] === undefined).length;
    t.is(unsourced, 0, `docs/${doc} has ${unsourced} TypeScript samples that name no file`);
  }
  t.true(samples >= 6, `${samples} samples checked`);
});
