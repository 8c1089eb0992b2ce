// Mounting the engine in an Express 5 application, behind the host's own JSON body parser:
// the engine's Node handler serves everything under its prefix and passes the rest on.
import express, { type Express } from 'express';
import type { ContextEngine } from '../src/index.ts';

/** `engine` made with `prefix: '/api'`; Express strips the mount path, the handler puts it back. */
export function createExpressHost(engine: ContextEngine): Express {
  const app = express();
  app.use(express.json()); // the host's parser: the engine uses the body it parsed
  app.get('/hello', (_req, res) => {
    res.json({ hello: 'from express' });
  });
  app.use('/api', engine.handler);
  return app;
}
