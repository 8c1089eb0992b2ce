-- The W3C traceparent (https://www.w3.org/TR/trace-context/) of the request that accepted an
-- asynchronous action, written by the same statement that records the acceptance: the worker's
-- claim returns it, and the job's spans continue the request's trace, so one trace shows the 202
-- and the completion (docs/tracing.md). NULL when tracing is off (nothing to continue).
-- A nullable column without a default is a change of the catalog only: no table rewrite, no scan.
ALTER TABLE contexts ADD COLUMN trace_parent text;
