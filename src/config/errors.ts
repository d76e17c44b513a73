// A configuration error names the key path it is about (R-GEN-12), e.g.
// `deployment.admin.admin_listen.port: expected integer 0-65535, got "abc"`.
export class ConfigError extends Error {
  constructor(
    /** dotted key path (`[i]` for list items); "" for the whole file */
    readonly path: string,
    detail: string,
  ) {
    super(path ? `${path}: ${detail}` : detail);
    this.name = 'ConfigError';
  }
}
