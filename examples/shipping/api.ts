// npm run example:shipping:api — PORT, DATABASE_URL, SHIPPING_PROVIDER_URL, EXAMPLE_API_KEY, LOG_LEVEL.
import type { AddressInfo } from 'node:net';
import { createShippingApp } from './app.ts';
import { exampleSetup, required, wholeNumber } from './env.ts';

const { logger, pool, providerUrl } = exampleSetup('api');
const apiKey = required('EXAMPLE_API_KEY');
const port = process.env['PORT']?.trim() === '0' ? 0 : wholeNumber('PORT', 3030);
const { app, engine } = await createShippingApp({ pool, providerUrl, apiKey, logger });
const server = app.listen(port, process.env['HOST']?.trim() || '127.0.0.1', () => {
  const { address, port: bound } = server.address() as AddressInfo;
  logger.info({ url: `http://${address}:${bound}` }, 'shipping example listening');
  console.log(`shipping example listening on http://${address}:${bound}`);
});
server.on('error', (error: NodeJS.ErrnoException) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: set PORT to another one.` : error.message);
  process.exit(1);
});
const stop = async () => {
  server.close();
  await engine.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
