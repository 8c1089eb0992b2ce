// The service's OpenTelemetry SDK: a tracer provider with an OTLP/HTTP (protobuf) exporter, the
// W3C trace-context propagator and an AsyncLocalStorage context manager, registered as the
// process's global ones. main.ts imports this module only when OTEL_TRACES_EXPORTER names an
// exporter, so a deployment without tracing never loads the SDK. The engine's spans go through
// the global API (tracer.ts); a provider registered before this runs — a host's — is kept, never
// replaced: then nothing here is registered and the spans go to the host's provider.
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import type { TracingSettings } from '../config.ts';
import { PACKAGE_VERSION } from './tracer.ts';

// The resource's semantic conventions (stable): two names, not worth a package.
const ATTR_SERVICE_NAME = 'service.name';
const ATTR_SERVICE_VERSION = 'service.version';

export interface Tracing {
  /** False when another provider was registered first (the host's): this one was not. */
  readonly registered: boolean;
  /** Sends the spans still buffered and stops the exporter; for graceful shutdown. */
  shutdown(): Promise<void>;
}

function sampler(settings: TracingSettings): Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(settings.samplerRatio);
  switch (settings.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
  }
}

function processors(settings: TracingSettings): SpanProcessor[] {
  // Batched, off the request path; OTEL_BSP_* and OTEL_EXPORTER_OTLP_HEADERS / _TIMEOUT /
  // _COMPRESSION / certificates are read by the SDK itself.
  return settings.exporters.map((exporter) =>
    new BatchSpanProcessor(exporter === 'otlp' ? new OTLPTraceExporter({ url: settings.otlpTracesUrl }) : new ConsoleSpanExporter()),
  );
}

/** The endpoint as a log line may show it: without a user or password in it. */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(unparsable)';
  }
}

/**
 * Registers the SDK as the global tracer provider, unless one is registered already (then it
 * logs so and registers nothing). `defaultServiceName` applies when neither OTEL_SERVICE_NAME
 * nor OTEL_RESOURCE_ATTRIBUTES names the service.
 */
export function startTracing(settings: TracingSettings, defaultServiceName: string, logger: Logger): Tracing {
  const detected = detectResources({ detectors: [envDetector] });
  const named = detected.attributes[ATTR_SERVICE_NAME];
  const serviceName = settings.serviceName ?? (typeof named === 'string' ? named : defaultServiceName);
  const resource = defaultResource()
    .merge(detected)
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName, ...(PACKAGE_VERSION ? { [ATTR_SERVICE_VERSION]: PACKAGE_VERSION } : {}) }));
  const provider = new BasicTracerProvider({ resource, sampler: sampler(settings), spanProcessors: processors(settings) });

  // The API refuses a second registration and says so by its answer: the host's provider stays.
  if (!trace.setGlobalTracerProvider(provider)) {
    logger.warn({ serviceName }, 'an OpenTelemetry tracer provider is registered already (the host\'s): the service\'s tracing SDK is not started, spans go to that provider');
    void provider.shutdown();
    return { registered: false, shutdown: async () => undefined };
  }
  // Each only if nobody set one (the API refuses to replace them too).
  const contextManager = new AsyncLocalStorageContextManager().enable();
  if (!context.setGlobalContextManager(contextManager)) contextManager.disable();
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const endpoint = settings.exporters.includes('otlp') ? withoutCredentials(settings.otlpTracesUrl) : undefined;
  logger.info({ serviceName, exporters: settings.exporters, endpoint, sampler: settings.sampler }, 'tracing on');
  return {
    registered: true,
    async shutdown() {
      await provider.shutdown();
    },
  };
}
