import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ProblemError, type ProblemSlug } from './problems.ts';

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** JSON Schema 2020-12, the dialect of OpenAPI 3.1, so schemas read the same in code and spec. */
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);

export type JsonSchema = Record<string, unknown>;

export function describeErrors(errors: readonly ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .slice(0, 5)
    .map((error) => {
      const where = error.instancePath === '' ? 'body' : error.instancePath;
      const extra =
        error.keyword === 'additionalProperties'
          ? ` (${String((error.params as { additionalProperty?: unknown }).additionalProperty)})`
          : error.keyword === 'enum'
            ? ` (${JSON.stringify((error.params as { allowedValues?: unknown }).allowedValues)})`
            : '';
      return `${where} ${error.message ?? 'is invalid'}${extra}`;
    })
    .join('; ');
}

export interface BodyValidator<T> {
  readonly schema: JsonSchema;
  /** Returns the value typed, or throws a 4xx problem naming every violation. */
  (value: unknown): T;
}

export function bodyValidator<T>(schema: JsonSchema, slug: ProblemSlug = 'validation-failed'): BodyValidator<T> {
  const validate: ValidateFunction = ajv.compile(schema);
  const check = (value: unknown): T => {
    // Postgres text and jsonb cannot hold U+0000; refuse it here rather than fail in SQL.
    if (JSON.stringify(value).includes('\\u0000')) throw new ProblemError(slug, 'Strings must not contain the NUL character (U+0000).');
    if (!validate(value)) throw new ProblemError(slug, describeErrors(validate.errors));
    return value as T;
  };
  return Object.assign(check, { schema });
}
