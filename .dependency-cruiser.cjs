// The layering of src/ (ARCHITECTURE.md), checked by `npm test`:
//   core → config/schema/state/store/observability/transport → llm → plugins →
//   runtime → proxy/admin/control → app/workers/declarative/cli
// A module may import its own layer and the layers below it, never above.
// Type-only imports count: a type from a higher layer ties the lower one to it.
const layers = [
  ['core'],
  ['config', 'schema', 'state', 'store', 'observability', 'transport'],
  ['llm'],
  ['plugins'],
  ['runtime'],
  ['proxy', 'admin', 'control'],
  ['app\\.ts', 'workers', 'declarative', 'cli'],
];
const dir = (names) => `^src/(${names.join('|')})`;
const forbidden = [];
layers.forEach((names, i) => {
  const above = layers.slice(i + 1).flat();
  if (above.length === 0) return;
  forbidden.push({
    name: `layer-${names.join('-').replace(/\\\\\./g, '')}`,
    comment: `${names.join(', ')} must not import a higher layer (${above.join(', ')})`,
    severity: 'error',
    from: { path: dir(names) },
    to: { path: dir(above) },
  });
});
forbidden.push({
  name: 'llm-self-contained',
  comment: 'src/llm (protocols, converters, providers, relay, engine) imports nothing from src/plugins or src/proxy (issue 13)',
  severity: 'error',
  from: { path: '^src/llm/' },
  to: { path: '^src/(plugins|proxy)/' },
});
forbidden.push({
  name: 'undici-parts-only',
  comment: "undici's index also loads fetch, WebSocket, EventSource and the mock agents (+8 MB RSS at start): src/ takes undici's values from src/transport/undici.ts; type imports cost nothing, and a dynamic import may load the rest where a feature needs it",
  severity: 'error',
  from: { path: '^src/' },
  to: { path: 'node_modules/undici/', dependencyTypesNot: ['type-only', 'dynamic-import'] },
});
forbidden.push({
  name: 'no-circular-between-folders',
  comment: 'two top-level folders of src/ import each other',
  severity: 'error',
  from: { path: '^src/([^/]+)/' },
  to: { path: '^src/([^/]+)/', pathNot: '^src/$1/', circular: true },
});
module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
