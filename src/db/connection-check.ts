// A LISTEN connection only ever receives, so a silent one (a vanished host, a dropped flow) looks
// exactly like a quiet one: no error, no notification, forever. A cheap statement now and then
// tells them apart. No answer within the bound: the socket is destroyed, which pg reports like
// any lost connection (an 'error' on the client), so the owner's usual reconnect runs.
import type pg from 'pg';
import type { Logger } from 'pino';
import { isQueryTimeout } from './timeouts.ts';

/**
 * Sends `SELECT 1` on `client` every `boundMs` (the pool's query_timeout); without an answer within
 * `boundMs` the connection is dropped. A silent connection is found within twice the bound.
 * Returns the stop; it also stops by itself when the client ends. No bound (0 or undefined): no check.
 */
export function checkConnection(client: pg.Client, boundMs: number | undefined, logger: Logger | undefined, what: string): () => void {
  if (!boundMs || boundMs <= 0) return () => undefined;
  let checking = false;
  let dropped = false;
  const drop = (reason: string) => {
    if (dropped) return;
    dropped = true;
    logger?.warn({ boundMs, reason }, `${what}: no answer from the database within ${boundMs} ms; dropping the connection`);
    client.connection.stream.destroy();
  };
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    const silent = setTimeout(() => drop('check timed out'), boundMs);
    client
      .query('SELECT 1')
      .then(
        () => undefined,
        (error: unknown) => {
          // pg's own query_timeout may answer first; a connection that is already gone has said so.
          if (isQueryTimeout(error)) drop('Query read timeout');
        },
      )
      .finally(() => {
        clearTimeout(silent);
        checking = false;
      });
  }, boundMs);
  timer.unref();
  const stop = () => clearInterval(timer);
  client.once('end', stop);
  return stop;
}
