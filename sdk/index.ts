// The SDK's public surface: the client, executeAction and the types generated from openapi.yaml.
export {
  createIdempotenceClient,
  executeAction,
  ProblemError,
  type Account,
  type Action,
  type Context,
  type ContextState,
  type ExecuteActionOptions,
  type ExecuteActionResult,
  type IdempotenceClient,
  type IdempotenceClientOptions,
  type Problem,
  type ProblemType,
  type RetryPolicy,
} from './client.ts';
export type { components, operations, paths, webhooks } from './schema.d.ts';
