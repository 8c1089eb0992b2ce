// Environment → typed configuration. Every bad value is reported at once, by name, and stops
// start-up before anything listens.
import { DEFAULT_DATABASE_TIMEOUTS, type DatabaseTimeouts } from './db/timeouts.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  readonly nodeEnv: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host: string;
  /** Unset: `npm start` runs an embedded Postgres under `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly databasePoolSize: number;
  /** Where the LISTEN connections go (long-polls, idle workers); unset: databaseUrl. Past any pooler in transaction mode. */
  readonly databaseListenUrl: string | undefined;
  /** How often a held long-poll re-reads its context, notified or not. */
  readonly longPollRecheckMs: number;
  /** Bounds on every wait for the database (src/db/timeouts.ts). */
  readonly databaseTimeouts: DatabaseTimeouts;
  /** Unset: tenant administration (POST /tenants) is switched off. */
  readonly adminToken: string | undefined;
  readonly logLevel: LogLevel;
  /** Default lifetime of a context created without ttlSeconds. */
  readonly contextTtlSeconds: number;
  /** How long an Idempotency-Key is remembered (and replayed) after its first use. */
  readonly idempotencyKeyTtlSeconds: number;
  /** How long a process trusts an API key it has looked up (0: look it up on every request). */
  readonly authCacheTtlSeconds: number;
  /** Send statements as named (prepared) ones; given up by itself on the first sign of a pooler that cannot keep them. */
  readonly databasePreparedStatements: boolean;
  readonly dataDir: string;
  readonly embeddedPostgresPort: number;
  /** Fixes the dev tenant's key instead of generating one (development only). */
  readonly devApiKey: string | undefined;
  /** Where workers and reconciliation reach the card processor; `all` defaults to its own. */
  readonly processorUrl: string | undefined;
  /** Unset: 3001 for role `processor`; role `all` runs its simulator on any free port (it needs no fixed one). */
  readonly processorPort: number | undefined;
  readonly processorTimeoutMs: number;
  readonly workerLeaseSeconds: number;
  readonly workerMaxAttempts: number;
  /** Jobs one worker process runs at once. */
  readonly workerConcurrency: number;
  /** Days the operator console's timelines, per-minute counts and audit log are kept. */
  readonly operationsRetentionDays: number;
  /** Request limits of the API (docs/rate-limits.md); each 0 is off. */
  readonly rateLimits: RateLimitSettings;
  /** OpenTelemetry traces (docs/tracing.md): off unless OTEL_TRACES_EXPORTER names an exporter. */
  readonly tracing: TracingSettings;
}

export const TRACE_SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
export type TraceSampler = (typeof TRACE_SAMPLERS)[number];
const TRACE_EXPORTERS = ['otlp', 'console'] as const;

/** The standard OpenTelemetry variables the service's tracing reads (the exporter reads OTEL_EXPORTER_OTLP_HEADERS and the like itself). */
export interface TracingSettings {
  /** Empty: tracing is off and the SDK is never loaded. */
  readonly exporters: readonly (typeof TRACE_EXPORTERS)[number][];
  /** Where OTLP/HTTP (protobuf) spans are sent: the traces endpoint itself. */
  readonly otlpTracesUrl: string;
  /** Unset: per role (idempotence-api, idempotence-worker…). */
  readonly serviceName: string | undefined;
  readonly sampler: TraceSampler;
  /** The ratio of the traceidratio samplers, 0 to 1. */
  readonly samplerRatio: number;
}

/** Limits per credential and per client address, each counted in this process (docs/rate-limits.md). */
export interface RateLimitSettings {
  /** Requests one tenant may start per second (averaged over `windowSeconds`); 0: no limit. */
  readonly tenantRequestsPerSecond: number;
  /** Requests of one tenant in progress at once; 0: no limit. */
  readonly tenantConcurrency: number;
  /** The same two for the ADMIN_TOKEN (POST /tenants). */
  readonly adminRequestsPerSecond: number;
  readonly adminConcurrency: number;
  /** The window the per-second rates are counted over: `RateLimit-Policy` q = rate × window. */
  readonly windowSeconds: number;
  /** How long a request over its credential's concurrency waits for a slot before it is answered 429. */
  readonly concurrencyWaitMs: number;
  /** Failed authentications one client address may make per `authFailureWindowSeconds`; 0: no limit. */
  readonly authFailures: number;
  readonly authFailureWindowSeconds: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };

  const flag = (name: string, fallback: boolean): boolean => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  };

  const nodeEnvRaw = text('NODE_ENV') ?? 'development';
  const nodeEnv = (['development', 'production', 'test'] as const).find((candidate) => candidate === nodeEnvRaw);
  if (!nodeEnv) problems.push(`NODE_ENV must be development, production or test (got "${nodeEnvRaw}")`);

  const logLevelRaw = text('LOG_LEVEL') ?? 'info';
  const logLevel = LOG_LEVELS.find((level) => level === logLevelRaw);
  if (!logLevel) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevelRaw}")`);

  const postgresUrl = (name: string): string | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    let protocol = '';
    try {
      protocol = new URL(value).protocol;
    } catch {
      protocol = 'invalid';
    }
    if (protocol !== 'postgres:' && protocol !== 'postgresql:') problems.push(`${name} must be a postgres:// or postgresql:// URL`);
    return value;
  };
  const databaseUrl = postgresUrl('DATABASE_URL');
  const databaseListenUrl = postgresUrl('DATABASE_LISTEN_URL');

  const adminToken = text('ADMIN_TOKEN');
  if (adminToken !== undefined && adminToken.length < 16) problems.push('ADMIN_TOKEN must be at least 16 characters long');

  const devApiKey = text('DEV_API_KEY');
  if (devApiKey !== undefined && !/^[\x21-\x7e]{16,200}$/.test(devApiKey)) {
    problems.push('DEV_API_KEY must be 16 to 200 visible ASCII characters');
  }

  const processorUrl = text('PROCESSOR_URL');
  if (processorUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(processorUrl)) problems.push('PROCESSOR_URL must be an http:// or https:// URL');

  const poolSize = integer('DATABASE_POOL_SIZE', 10, 1, 1000);
  const config: Config = {
    nodeEnv: nodeEnv ?? 'development',
    port: integer('PORT', 3000, 0, 65535),
    host: text('HOST') ?? '127.0.0.1',
    databaseUrl,
    databasePoolSize: poolSize,
    databaseListenUrl,
    longPollRecheckMs: integer('LONG_POLL_RECHECK_MS', 1_000, 50, 60_000),
    databaseTimeouts: {
      connectMs: integer('DATABASE_CONNECT_TIMEOUT_MS', DEFAULT_DATABASE_TIMEOUTS.connectMs, 100, 600_000),
      queryMs: integer('DATABASE_QUERY_TIMEOUT_MS', DEFAULT_DATABASE_TIMEOUTS.queryMs, 0, 3_600_000),
      statementMs: integer('DATABASE_STATEMENT_TIMEOUT_MS', DEFAULT_DATABASE_TIMEOUTS.statementMs, 0, 3_600_000),
      idleInTransactionMs: integer('DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS', DEFAULT_DATABASE_TIMEOUTS.idleInTransactionMs, 0, 3_600_000),
      keepAliveDelayMs: integer('DATABASE_KEEPALIVE_DELAY_MS', DEFAULT_DATABASE_TIMEOUTS.keepAliveDelayMs, 0, 3_600_000),
    },
    adminToken,
    logLevel: logLevel ?? 'info',
    contextTtlSeconds: integer('CONTEXT_TTL_SECONDS', 86_400, 1, 31_536_000),
    idempotencyKeyTtlSeconds: integer('IDEMPOTENCY_KEY_TTL_SECONDS', 86_400, 60, 31_536_000),
    authCacheTtlSeconds: integer('AUTH_CACHE_TTL_SECONDS', 5, 0, 300),
    databasePreparedStatements: flag('DATABASE_PREPARED_STATEMENTS', true),
    dataDir: text('DATA_DIR') ?? '.data',
    embeddedPostgresPort: integer('EMBEDDED_POSTGRES_PORT', 54329, 1, 65535),
    devApiKey,
    processorUrl,
    processorPort: text('PROCESSOR_PORT') === undefined ? undefined : integer('PROCESSOR_PORT', 3001, 0, 65535),
    processorTimeoutMs: integer('PROCESSOR_TIMEOUT_MS', 2_000, 50, 120_000),
    workerLeaseSeconds: integer('WORKER_LEASE_SECONDS', 10, 1, 3_600),
    workerMaxAttempts: integer('WORKER_MAX_ATTEMPTS', 8, 1, 1_000),
    workerConcurrency: integer('WORKER_CONCURRENCY', 16, 1, 256),
    operationsRetentionDays: integer('OPERATIONS_RETENTION_DAYS', 7, 1, 3_650),
    rateLimits: rateLimitSettings(integer, poolSize),
    tracing: tracingSettings(text, flag, problems),
  };
  if (config.workerLeaseSeconds * 1000 <= config.processorTimeoutMs) {
    problems.push('WORKER_LEASE_SECONDS must outlast PROCESSOR_TIMEOUT_MS, or a slow call could outlive its lease');
  }
  const { queryMs, statementMs } = config.databaseTimeouts;
  if (queryMs > 0 && statementMs > 0 && queryMs <= statementMs) {
    problems.push('DATABASE_QUERY_TIMEOUT_MS must exceed DATABASE_STATEMENT_TIMEOUT_MS, so that Postgres cancels a slow statement (the connection survives) before the client gives the connection up');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

type IntegerReader = (name: string, fallback: number, min: number, max: number) => number;

/**
 * On by default: the concurrency limit (two pool connections stay free for the other tenants)
 * and the limit on failed authentications. Off by default: the request rates, whose right value
 * depends on the deployment (see docs/rate-limits.md for why).
 */
function rateLimitSettings(integer: IntegerReader, poolSize: number): RateLimitSettings {
  const concurrency = integer('RATE_LIMIT_TENANT_CONCURRENCY', Math.max(1, poolSize - 2), 0, 100_000);
  return {
    tenantRequestsPerSecond: integer('RATE_LIMIT_TENANT_REQUESTS_PER_SECOND', 0, 0, 1_000_000),
    tenantConcurrency: concurrency,
    adminRequestsPerSecond: integer('RATE_LIMIT_ADMIN_REQUESTS_PER_SECOND', 0, 0, 1_000_000),
    adminConcurrency: integer('RATE_LIMIT_ADMIN_CONCURRENCY', concurrency, 0, 100_000),
    windowSeconds: integer('RATE_LIMIT_WINDOW_SECONDS', 1, 1, 3_600),
    concurrencyWaitMs: integer('RATE_LIMIT_CONCURRENCY_WAIT_MS', 5_000, 0, 60_000),
    authFailures: integer('RATE_LIMIT_AUTH_FAILURES', 20, 0, 1_000_000),
    authFailureWindowSeconds: integer('RATE_LIMIT_AUTH_FAILURE_WINDOW_SECONDS', 60, 1, 86_400),
  };
}

/**
 * The OpenTelemetry SDK's own variables, under their standard names, checked like the rest: a
 * typo must not turn tracing silently off (or send spans nowhere).
 */
function tracingSettings(text: (name: string) => string | undefined, flag: (name: string, fallback: boolean) => boolean, problems: string[]): TracingSettings {
  const httpUrl = (name: string): string | undefined => {
    const value = text(name);
    if (value !== undefined && !/^https?:\/\/[^\s]+$/.test(value)) problems.push(`${name} must be an http:// or https:// URL`);
    return value;
  };
  const otlpProtocol = (name: string): void => {
    const protocol = text(name);
    if (protocol !== undefined && protocol !== 'http/protobuf') problems.push(`${name} must be http/protobuf, the one OTLP protocol the service sends (got "${protocol}")`);
  };
  const named = (text('OTEL_TRACES_EXPORTER') ?? 'none').split(',').map((name) => name.trim()).filter((name) => name !== 'none');
  const exporters = TRACE_EXPORTERS.filter((exporter) => named.includes(exporter));
  const unknown = named.filter((name) => !exporters.some((exporter) => exporter === name));
  if (unknown.length > 0) problems.push(`OTEL_TRACES_EXPORTER must be none, otlp or console (or a comma-separated list of them); got "${unknown.join(',')}"`);
  otlpProtocol('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL');
  otlpProtocol('OTEL_EXPORTER_OTLP_PROTOCOL');
  const tracesUrl = httpUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const baseUrl = httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT');
  const samplerRaw = text('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on';
  const sampler = TRACE_SAMPLERS.find((candidate) => candidate === samplerRaw);
  if (!sampler) problems.push(`OTEL_TRACES_SAMPLER must be one of ${TRACE_SAMPLERS.join(', ')} (got "${samplerRaw}")`);
  const ratioRaw = text('OTEL_TRACES_SAMPLER_ARG');
  const ratio = ratioRaw === undefined ? 1 : Number(ratioRaw);
  if (!/^(0|1|0?\.\d+|1\.0*)$/.test(ratioRaw ?? '1') || !(ratio >= 0 && ratio <= 1)) problems.push(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1 (got "${ratioRaw}")`);
  // OTEL_SDK_DISABLED=true is the standard way to switch the SDK off whatever else is set.
  const disabled = flag('OTEL_SDK_DISABLED', false);
  return {
    exporters: disabled ? [] : exporters,
    // The specification: a signal's endpoint is used as it is; the general one gets /v1/traces appended.
    otlpTracesUrl: tracesUrl ?? `${(baseUrl ?? 'http://localhost:4318').replace(/\/+$/, '')}/v1/traces`,
    serviceName: text('OTEL_SERVICE_NAME'),
    sampler: sampler ?? 'parentbased_always_on',
    samplerRatio: Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 1,
  };
}
