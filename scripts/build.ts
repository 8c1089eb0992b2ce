// `npm run build`: compiles src/ to plain JavaScript in dist/ (production runs `node dist/src/main.js`,
// without the TypeScript loader: less memory, faster start) and copies the files it reads at run time.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';

rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [path.join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
// Read relative to the compiled modules: src/http/meta-routes.ts and src/db/migrate.ts.
cpSync('openapi.yaml', path.join('dist', 'openapi.yaml'));
cpSync(path.join('db', 'migrations'), path.join('dist', 'db', 'migrations'), { recursive: true });
// The console's stylesheet, served beside its compiled modules (src/console/routes.ts).
cpSync(path.join('src', 'console', 'page', 'console.css'), path.join('dist', 'src', 'console', 'page', 'console.css'));
