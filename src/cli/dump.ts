// STUB (owner: declarative helper): `switchyard dump` (R-DECL). Replace freely;
// src/cli/main.ts calls runDump(argv) and exits with its result.
export async function runDump(_argv: string[]): Promise<number> {
  process.stderr.write('switchyard dump: not implemented\n');
  return 1;
}
