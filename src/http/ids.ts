// Ids are UUIDs; anything else in an id position names nothing and answers 404, never 400 or 500.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/**
 * The JSON Schema for an id in a body. A pattern, not `format: uuid`: that format also admits
 * `urn:uuid:…`, which Postgres would then refuse.
 */
export const uuidSchema = {
  type: 'string',
  pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
} as const;
