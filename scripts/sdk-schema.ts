// Renders sdk/schema.d.ts, the types openapi-typescript derives from openapi.yaml. Shared by
// `npm run sdk:generate` (scripts/generate-sdk.ts), which writes it, and test/sdk/sdk-fresh.test.ts,
// which fails when the checked-in file differs, so the SDK can never drift from the spec.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
export const SPEC_FILE = path.join(root, 'openapi.yaml');
export const SCHEMA_FILE = path.join(root, 'sdk', 'schema.d.ts');

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Gives every `discriminator` without a `mapping` the mapping its members' `const` values spell
 * out. Without one, OpenAPI's implicit mapping — and openapi-typescript 7, which ignores the
 * members' `const` (openapi-ts/openapi-typescript#2149) — names the schema instead of the value:
 * `Action` would demand `type: "DepositAction"` where the service wants `"deposit"`. A no-op once
 * openapi.yaml states the mapping itself. Returns the names of the schemas it completed.
 */
export function addImpliedDiscriminatorMappings(spec: Json): string[] {
  const schemas = isObject(spec['components']) && isObject(spec['components']['schemas']) ? spec['components']['schemas'] : {};
  const added: string[] = [];
  for (const [name, schema] of Object.entries(schemas)) {
    if (!isObject(schema) || !isObject(schema['discriminator']) || !Array.isArray(schema['oneOf'])) continue;
    const discriminator = schema['discriminator'];
    if (discriminator['mapping'] !== undefined || typeof discriminator['propertyName'] !== 'string') continue;
    const mapping = impliedMapping(schemas, schema['oneOf'], discriminator['propertyName']);
    if (!mapping) continue;
    discriminator['mapping'] = mapping;
    added.push(name);
  }
  return added;
}

function impliedMapping(schemas: Json, members: unknown[], property: string): Record<string, string> | undefined {
  const mapping: Record<string, string> = {};
  for (const member of members) {
    const ref = isObject(member) ? member['$ref'] : undefined;
    if (typeof ref !== 'string' || !ref.startsWith('#/components/schemas/')) return undefined;
    const target = schemas[ref.slice('#/components/schemas/'.length)];
    const tag = isObject(target) && isObject(target['properties']) ? target['properties'][property] : undefined;
    // Anything but a plain string `const` is left to the generator rather than guessed at.
    if (!isObject(tag) || typeof tag['const'] !== 'string') return undefined;
    mapping[tag['const']] = ref;
  }
  return mapping;
}

/** The full text of sdk/schema.d.ts: a pure function of openapi.yaml (and the pinned generator). */
export async function renderSdkSchema(): Promise<string> {
  const spec: unknown = parse(await readFile(SPEC_FILE, 'utf8'));
  if (!isObject(spec)) throw new Error('openapi.yaml is not a YAML mapping');
  addImpliedDiscriminatorMappings(spec);
  // Default generator options on purpose: the output depends on nothing but the spec, the
  // openapi-typescript version and the TypeScript printer, so every machine renders the same bytes.
  const ast = await openapiTS(spec as unknown as OpenAPI3, { silent: true, cwd: root });
  return `${COMMENT_HEADER}// Source: openapi.yaml. Regenerate with \`npm run sdk:generate\`.\n\n${astToString(ast)}`;
}
