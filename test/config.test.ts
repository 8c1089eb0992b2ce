import test from 'ava';
import { ConfigError, loadConfig } from '../src/config.ts';

test('defaults', (t) => {
  const config = loadConfig({});
  t.like(config, { port: 3000, host: '127.0.0.1', databaseUrl: undefined, adminToken: undefined, logLevel: 'info', contextTtlSeconds: 86_400 });
});

test('reads every variable', (t) => {
  const config = loadConfig({
    PORT: '8080',
    HOST: '0.0.0.0',
    DATABASE_URL: 'postgres://u@db:5432/app',
    ADMIN_TOKEN: 'a-very-long-admin-token',
    LOG_LEVEL: 'warn',
    CONTEXT_TTL_SECONDS: '60',
    NODE_ENV: 'production',
  });
  t.like(config, { port: 8080, host: '0.0.0.0', databaseUrl: 'postgres://u@db:5432/app', logLevel: 'warn', contextTtlSeconds: 60, nodeEnv: 'production' });
});

test('every bad value is named in one clear message', (t) => {
  const error = t.throws(
    () => loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', ADMIN_TOKEN: 'short', LOG_LEVEL: 'loud', CONTEXT_TTL_SECONDS: '0' }),
    { instanceOf: ConfigError },
  );
  t.is(error?.problems.length, 5);
  t.regex(error?.message ?? '', /PORT must be a whole number from 0 to 65535 \(got "eighty"\)/);
  t.regex(error?.message ?? '', /DATABASE_URL must be a postgres:\/\//);
  t.regex(error?.message ?? '', /ADMIN_TOKEN must be at least 16 characters/);
  t.regex(error?.message ?? '', /LOG_LEVEL must be one of/);
  t.regex(error?.message ?? '', /CONTEXT_TTL_SECONDS/);
});

test('PORT out of range is refused', (t) => {
  t.throws(() => loadConfig({ PORT: '70000' }), { message: /PORT/ });
  t.throws(() => loadConfig({ PORT: '-1' }), { message: /PORT/ });
});

test('rate limits: concurrency and failed authentications on by default, rates off; every value read and checked', (t) => {
  t.deepEqual(loadConfig({}).rateLimits, {
    tenantRequestsPerSecond: 0,
    tenantConcurrency: 8,
    adminRequestsPerSecond: 0,
    adminConcurrency: 8,
    windowSeconds: 1,
    concurrencyWaitMs: 5_000,
    authFailures: 20,
    authFailureWindowSeconds: 60,
  });
  t.is(loadConfig({ DATABASE_POOL_SIZE: '2' }).rateLimits.tenantConcurrency, 1, 'two connections below the pool, at least one');
  t.is(loadConfig({ DATABASE_POOL_SIZE: '40' }).rateLimits.adminConcurrency, 38);
  t.deepEqual(
    loadConfig({
      RATE_LIMIT_TENANT_REQUESTS_PER_SECOND: '100',
      RATE_LIMIT_TENANT_CONCURRENCY: '0',
      RATE_LIMIT_ADMIN_REQUESTS_PER_SECOND: '5',
      RATE_LIMIT_ADMIN_CONCURRENCY: '2',
      RATE_LIMIT_WINDOW_SECONDS: '10',
      RATE_LIMIT_CONCURRENCY_WAIT_MS: '0',
      RATE_LIMIT_AUTH_FAILURES: '0',
      RATE_LIMIT_AUTH_FAILURE_WINDOW_SECONDS: '300',
    }).rateLimits,
    { tenantRequestsPerSecond: 100, tenantConcurrency: 0, adminRequestsPerSecond: 5, adminConcurrency: 2, windowSeconds: 10, concurrencyWaitMs: 0, authFailures: 0, authFailureWindowSeconds: 300 },
  );
  const error = t.throws(() => loadConfig({ RATE_LIMIT_TENANT_REQUESTS_PER_SECOND: '-1', RATE_LIMIT_WINDOW_SECONDS: '0' }), { instanceOf: ConfigError });
  t.is(error?.problems.length, 2);
});

test('database bounds: safe defaults, each settable, 0 turns one off, and the query bound must exceed the statement bound', (t) => {
  t.deepEqual(loadConfig({}).databaseTimeouts, { connectMs: 5_000, queryMs: 6_000, statementMs: 5_000, idleInTransactionMs: 10_000, keepAliveDelayMs: 10_000 });
  const set = loadConfig({
    DATABASE_CONNECT_TIMEOUT_MS: '1000',
    DATABASE_QUERY_TIMEOUT_MS: '1500',
    DATABASE_STATEMENT_TIMEOUT_MS: '0',
    DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '2000',
    DATABASE_KEEPALIVE_DELAY_MS: '0',
  });
  t.deepEqual(set.databaseTimeouts, { connectMs: 1_000, queryMs: 1_500, statementMs: 0, idleInTransactionMs: 2_000, keepAliveDelayMs: 0 });
  t.throws(() => loadConfig({ DATABASE_QUERY_TIMEOUT_MS: '5000' }), { message: /DATABASE_QUERY_TIMEOUT_MS must exceed DATABASE_STATEMENT_TIMEOUT_MS/ });
  t.notThrows(() => loadConfig({ DATABASE_QUERY_TIMEOUT_MS: '0' }), 'no client-side bound at all is allowed');
  t.throws(() => loadConfig({ DATABASE_CONNECT_TIMEOUT_MS: '0' }), { message: /DATABASE_CONNECT_TIMEOUT_MS must be a whole number from 100/ });
});

test('tracing: off by default; the standard OTEL_* variables are read and checked', (t) => {
  t.like(loadConfig({}).tracing, { exporters: [], otlpTracesUrl: 'http://localhost:4318/v1/traces', serviceName: undefined, sampler: 'parentbased_always_on', samplerRatio: 1 });
  t.deepEqual(loadConfig({ OTEL_TRACES_EXPORTER: 'none' }).tracing.exporters, []);
  t.like(loadConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_SERVICE_NAME: 'payments-api' }).tracing, {
    exporters: ['otlp'], otlpTracesUrl: 'http://collector:4318/v1/traces', serviceName: 'payments-api',
  });
  // A signal's own endpoint is taken as it is; it wins over the general one.
  t.is(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://b/otlp/traces' }).tracing.otlpTracesUrl, 'https://b/otlp/traces');
  t.like(loadConfig({ OTEL_TRACES_EXPORTER: 'otlp,console', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }).tracing, {
    exporters: ['otlp', 'console'], sampler: 'parentbased_traceidratio', samplerRatio: 0.25,
  });
  t.deepEqual(loadConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }).tracing.exporters, [], 'OTEL_SDK_DISABLED wins');

  const error = t.throws(
    () => loadConfig({
      OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_TRACES_SAMPLER: 'sometimes', OTEL_TRACES_SAMPLER_ARG: '1.5',
    }),
    { instanceOf: ConfigError },
  );
  t.is(error?.problems.length, 5, error?.message);
  t.regex(error?.message ?? '', /OTEL_TRACES_EXPORTER must be none, otlp or console .*"zipkin"/);
  t.regex(error?.message ?? '', /OTEL_EXPORTER_OTLP_ENDPOINT must be an http/);
  t.regex(error?.message ?? '', /OTEL_EXPORTER_OTLP_PROTOCOL must be http\/protobuf/);
  t.regex(error?.message ?? '', /OTEL_TRACES_SAMPLER must be one of/);
  t.regex(error?.message ?? '', /OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1 \(got "1.5"\)/);
});
