// STUB (owner: declarative helper): `switchyard sync` (R-DECL). Replace freely;
// src/cli/main.ts calls runSync(argv) and exits with its result.
export async function runSync(_argv: string[]): Promise<number> {
  process.stderr.write('switchyard sync: not implemented\n');
  return 1;
}
