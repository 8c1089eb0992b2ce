// hey-api-walkthrough.ts imports the client that @hey-api/openapi-ts generates from openapi.yaml
// as `#generated/…`. That client exists only in the temporary directory of
// generators.test.ts, where a package.json maps `#generated/*` to it and the walk-through is
// compiled against its real types under strict settings. In the repository there is no such
// client: this shorthand declaration lets the file type-check and lint here (its imports are
// untyped here; the strict check is the one in the temporary directory). It is not copied there.
declare module '#generated/*';
