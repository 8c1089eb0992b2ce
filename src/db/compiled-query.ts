// Kysely builds and compiles a query on every call: about 30 µs of CPU and a good share of the
// garbage per request on the read paths (bench/, profiled). The hottest queries are compiled
// once here, with placeholders where the parameters go, and executed with the real values —
// the splitting of build and execution that Kysely's documentation describes. Every call sends
// the same SQL string, which also lets the prepared-statement name be found without rehashing.
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type CompiledQuery,
  type QueryExecutorProvider,
  type QueryResult,
} from 'kysely';
import type { Database } from './schema.ts';

type Executor = Pick<Kysely<Database>, 'executeQuery'>;

/** Builds queries without a connection (Kysely's DummyDriver): compile-only. */
const compiler = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** Stands for argument `index` while the query is compiled. */
class Placeholder {
  constructor(readonly index: number) {}
}

/**
 * Compiles `build` once and returns a function that runs it with real arguments. `build` must
 * produce the same SQL whatever its arguments are: each argument one bound value (no arrays
 * that expand into lists, no branches on the values).
 */
export function compileOnce<Args extends unknown[], R>(
  arity: Args['length'],
  build: (db: Kysely<Database>, ...args: Args) => { compile(provider: QueryExecutorProvider): CompiledQuery<R> },
): (executor: Executor, ...args: Args) => Promise<QueryResult<R>> {
  const placeholders = Array.from({ length: arity }, (_, index) => new Placeholder(index)) as unknown as Args;
  // Query builders compile by themselves; an sql`` template needs the instance to compile with.
  const compiled = build(compiler, ...placeholders).compile(compiler);
  const slots = compiled.parameters.map((value) => (value instanceof Placeholder ? value.index : -1));
  if (new Set(slots.filter((slot) => slot >= 0)).size !== arity) {
    throw new Error(`compileOnce: the query does not bind each of its ${arity} arguments as a parameter`);
  }
  return (executor, ...args) => {
    const parameters = compiled.parameters.map((value, position) => {
      const slot = slots[position] ?? -1;
      return slot >= 0 ? args[slot] : value;
    });
    const query: CompiledQuery<R> = { ...compiled, parameters };
    return executor.executeQuery(query);
  };
}
