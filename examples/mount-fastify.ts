// Mounting the engine in a Fastify 5 application: its routes hand the raw request and response
// to the engine's Node handler, with the body Fastify has already parsed.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ContextEngine } from '../src/index.ts';

/** `engine` made with `prefix: '/api'`. */
export function createFastifyHost(engine: ContextEngine): FastifyInstance {
  const app = Fastify();
  const toEngine = (request: FastifyRequest, reply: FastifyReply): void => {
    reply.hijack(); // the engine writes the response itself
    (request.raw as { body?: unknown }).body = request.body;
    engine.handler(request.raw, reply.raw);
  };
  app.all('/api/contexts', toEngine);
  app.all('/api/contexts/*', toEngine);
  app.get('/hello', async () => ({ hello: 'from fastify' }));
  return app;
}
