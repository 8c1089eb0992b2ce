// The service's tracing, started when the configuration turns it on (OTEL_TRACES_EXPORTER):
// only then is the SDK module loaded, and with it the SDK packages. They are optional peer
// dependencies of the package — an application that embeds the engine brings its own provider
// and never needs them — so an installation without them says which to add, in one line.
import type { Logger } from 'pino';
import type { TracingSettings } from '../config.ts';
import type { startTracing, Tracing } from './sdk.ts';

/** What `src/telemetry/sdk.ts` imports (package.json lists them as optional peers, and as dev dependencies for this repository). */
export const SDK_PACKAGES = [
  '@opentelemetry/sdk-trace-base@^2.12.1',
  '@opentelemetry/exporter-trace-otlp-proto@^0.223.1',
  '@opentelemetry/resources@^2.12.1',
  '@opentelemetry/core@^2.12.1',
  '@opentelemetry/context-async-hooks@^2.12.1',
];

export class TracingUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`OTEL_TRACES_EXPORTER is set, but the OpenTelemetry SDK is not installed: npm install ${SDK_PACKAGES.join(' ')}`, { cause });
    this.name = 'TracingUnavailableError';
  }
}

/** Undefined when tracing is off (then nothing is loaded). */
export async function startServiceTracing(settings: TracingSettings, serviceName: string, logger: Logger): Promise<Tracing | undefined> {
  if (settings.exporters.length === 0) return undefined;
  let start: typeof startTracing;
  try {
    start = (await import('./sdk.ts')).startTracing;
  } catch (error) {
    const missing = (error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes('@opentelemetry/');
    throw missing ? new TracingUnavailableError(error) : error;
  }
  return start(settings, serviceName, logger);
}
