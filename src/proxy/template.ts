// STUB (owner: proxy helper): templates `$name`, `${name}`, `${name ?? default}`, `\$` (R-VAR-20).
export interface CompiledTemplate {
  /** renders the template; `resolved` is true when at least one variable was found */
  render(getVar: (name: string) => string | number | undefined): { text: string; resolved: boolean };
}

export function compileTemplate(src: string): CompiledTemplate {
  return { render: () => ({ text: src, resolved: false }) };
}
