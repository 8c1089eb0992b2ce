// Validates live responses against openapi.yaml: the status must be documented for the
// operation, and the body must match the documented schema for its media type.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import type { Reply } from './server.ts';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

type Json = Record<string, unknown>;
export const spec = parse(readFileSync('openapi.yaml', 'utf8')) as Json;

// OpenAPI 3.1 schemas are JSON Schema 2020-12 plus a few annotations (discriminator, example).
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, 'openapi.json');

const escape = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

function resolve(pointer: string[]): { node: Json; pointer: string[] } {
  let node: unknown = spec;
  for (const segment of pointer) node = (node as Json | undefined)?.[segment];
  const ref = (node as Json | undefined)?.['$ref'];
  if (typeof ref === 'string' && ref.startsWith('#/')) return resolve(ref.slice(2).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')));
  return { node: (node ?? {}) as Json, pointer };
}

/** A validator for the schema at a JSON pointer into openapi.yaml (`/components/parameters/IdempotencyKey/schema`). */
export function schemaAt(pointer: string): (value: unknown) => boolean {
  const validate = ajv.getSchema(`openapi.json#${pointer}`) ?? ajv.compile({ $ref: `openapi.json#${pointer}` });
  return (value) => validate(value) === true;
}

export function operation(method: string, pathTemplate: string): Json | undefined {
  const paths = spec['paths'] as Record<string, Record<string, Json>> | undefined;
  return paths?.[pathTemplate]?.[method.toLowerCase()];
}

/** Returns a list of problems (empty when the reply is what the spec promises). */
export function checkReply(method: string, pathTemplate: string, reply: Reply): string[] {
  const problems: string[] = [];
  const op = operation(method, pathTemplate);
  if (!op) return [`${method} ${pathTemplate} is not in openapi.yaml`];
  const responses = (op['responses'] ?? {}) as Json;
  const key = String(reply.status) in responses ? String(reply.status) : `${String(reply.status)[0]}XX` in responses ? `${String(reply.status)[0]}XX` : 'default';
  if (!(key in responses)) return [`${method} ${pathTemplate} does not document status ${reply.status}`];
  const response = resolve(['paths', pathTemplate, method.toLowerCase(), 'responses', key]);
  const content = response.node['content'] as Record<string, Json> | undefined;
  if (reply.text === '' || reply.status === 304) return problems;
  const mediaType = (reply.headers.get('content-type') ?? '').split(';')[0] ?? '';
  const media = content?.[mediaType];
  if (!media) return [`${method} ${pathTemplate} ${reply.status}: media type ${mediaType} is not documented`];
  if (!media['schema']) return problems;
  const schemaPointer = [...response.pointer, 'content', mediaType, 'schema'].map(escape).join('/');
  const validate = ajv.getSchema(`openapi.json#/${schemaPointer}`) ?? ajv.compile({ $ref: `openapi.json#/${schemaPointer}` });
  const body = mediaType.endsWith('json') ? reply.json : reply.text;
  if (!validate(body)) {
    problems.push(`${method} ${pathTemplate} ${reply.status}: ${ajv.errorsText(validate.errors)} in ${reply.text.slice(0, 300)}`);
  }
  return problems;
}
