// Kysely sends every query as an unnamed statement, which Postgres parses and plans on every
// execution. Naming a statement makes pg prepare it once per connection and then send only
// Bind/Execute: measured on the request paths of this service (bench/), that takes a third
// of Postgres's CPU per request away (see the README's performance section).
import { createHash } from 'node:crypto';

/**
 * Distinct statement texts that get a name. The service has a few dozen; the limit only keeps a
 * query built from unbounded input (none today) from growing every connection's statement cache.
 */
export const MAX_NAMED_STATEMENTS = 500;

export class StatementNames {
  readonly #names = new Map<string, string>();

  constructor(private readonly limit = MAX_NAMED_STATEMENTS) {}

  /** A name derived from the text (so every process agrees), or undefined past the limit. */
  nameFor(text: string): string | undefined {
    const known = this.#names.get(text);
    if (known !== undefined || this.#names.size >= this.limit) return known;
    const name = `k_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;
    this.#names.set(text, name);
    return name;
  }
}
