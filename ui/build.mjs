// Builds the dashboard (R-UI-1) into dist/ui/: the page, one JavaScript
// bundle (Preact, htm, uPlot and ui/app.ts) and one stylesheet. Everything
// the page loads comes from these files; nothing is fetched from elsewhere.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '../dist/ui');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: path.join(here, 'app.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  logLevel: 'warning',
});
copyFileSync(path.join(here, 'index.html'), path.join(out, 'index.html'));
