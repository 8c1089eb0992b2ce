// Kysely sends every query as an unnamed statement, which Postgres parses and plans on every
// execution. Naming a statement makes pg prepare it once per connection and then send only
// Bind/Execute: measured on the request paths of this service (bench/), that takes a third
// of Postgres's CPU per request away (see the README's performance section).
//
// A pooler in transaction mode (PgBouncer before 1.21, or later ones with max_prepared_statements
// = 0) gives each transaction whichever server connection is free: a statement pg prepared on one
// is unknown on the next (26000), or another client prepared it there under the same name
// (42P05). The first such error switches the whole process to unnamed statements (the pooler is
// a property of the deployment, not of one connection) and the failed statement is not lost:
// outside a transaction it is sent again unnamed here (nothing of it ran: Parse or Bind failed);
// inside one the transaction is aborted, and inTransaction (transaction.ts) runs it again whole.
import { createHash } from 'node:crypto';

/**
 * Distinct statement texts that get a name. The service has a few dozen; the limit only keeps a
 * query built from unbounded input (none today) from growing every connection's statement cache.
 */
export const MAX_NAMED_STATEMENTS = 500;

/** 26000 invalid_sql_statement_name (not prepared here), 42P05 duplicate_prepared_statement. */
const PREPARED_STATEMENT_SQLSTATES = new Set(['26000', '42P05']);

/** The server connection did not have (or already had) a named statement: what a transaction-mode pooler causes. */
export function isPreparedStatementError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && PREPARED_STATEMENT_SQLSTATES.has(code);
}

export class StatementNames {
  readonly #names = new Map<string, string>();
  #unnamed = false;

  constructor(
    private readonly limit = MAX_NAMED_STATEMENTS,
    /** Called once, with the error, when named statements are given up. */
    private readonly onGiveUp?: (error: unknown) => void,
  ) {}

  /** A name derived from the text (so every process agrees), or undefined past the limit or once given up. */
  nameFor(text: string): string | undefined {
    if (this.#unnamed) return undefined;
    const known = this.#names.get(text);
    if (known !== undefined || this.#names.size >= this.limit) return known;
    const name = `k_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;
    this.#names.set(text, name);
    return name;
  }

  /** False once a server connection lost or doubled a named statement: every statement is unnamed from then on. */
  get named(): boolean {
    return !this.#unnamed;
  }

  giveUp(error: unknown): void {
    if (this.#unnamed) return;
    this.#unnamed = true;
    this.onGiveUp?.(error);
  }
}
