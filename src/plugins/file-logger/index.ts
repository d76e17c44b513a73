// `file-logger` (R-LOG-7): each entry is appended to `path` as one JSON line,
// right away (no batching; lines finished in the same event-loop turn share
// one write). One open file per path, shared by every configuration that
// names it; reopened on SIGUSR1.
import path from 'node:path';
import type { PluginDef } from '../../core/types.js';
import type { GatewayScope } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { compileExpression, type Expression } from '../../core/expr.js';
import { createLineSink, type LineSink } from '../../observability/line-sink.js';
import { bodySchemaProperties, checkEntryConfig, compileEntry, type EntryBuilder, type EntryConfig } from '../../observability/log-entry.js';
import { closeOnShutdown, RETIRE_MS } from '../../observability/batch.js';

export interface FileLoggerConf extends EntryConfig {
  path: string;
  match?: unknown[];
}

interface SharedFile {
  sink: LineSink;
  refs: number;
  /** close the file once (also on shutdown) */
  close: () => Promise<void>;
}

/** the files of one gateway, by path (kept in its scope) */
type OpenFiles = Map<string, SharedFile>;

function acquire(files: OpenFiles, file: string, log: Logger, scope: GatewayScope): SharedFile {
  let f = files.get(file);
  if (!f) {
    const sink = createLineSink(file, log, { label: 'file-logger' });
    f = { sink, refs: 0, close: closeOnShutdown(() => sink.close(), scope) };
    files.set(file, f);
  }
  f.refs++;
  return f;
}

function release(files: OpenFiles, file: string, f: SharedFile): void {
  if (--f.refs > 0) return;
  // requests still in flight with the replaced configuration keep writing for a while (R-GEN-10)
  setTimeout(() => {
    if (f.refs > 0) return;
    if (files.get(file) === f) files.delete(file);
    void f.close();
  }, RETIRE_MS).unref();
}

export interface CompiledFileLogger {
  files: OpenFiles;
  file: string;
  shared: SharedFile;
  entry: EntryBuilder;
  match?: Expression[];
}

export const fileLoggerSchema = {
  type: 'object',
  properties: {
    path: { type: 'string' },
    log_format: { type: 'object' },
    ...bodySchemaProperties,
    match: { type: 'array', maxItems: 20, items: { type: 'array' } },
  },
  required: ['path'],
};

function compileMatch(match: unknown[] | undefined): Expression[] | undefined {
  if (!match || !match.length) return undefined;
  // each item is one condition (or a nested list); the entry is written when one holds
  return match.map((m) => compileExpression(Array.isArray(m) && Array.isArray(m[0]) ? m : [m]));
}

export const fileLogger: PluginDef<CompiledFileLogger> = {
  name: 'file-logger',
  priority: 399,
  schema: fileLoggerSchema,
  check(conf: FileLoggerConf) {
    try {
      compileMatch(conf.match);
    } catch (err) {
      return `failed to validate the 'match' expression: ${(err as Error).message}`;
    }
    return checkEntryConfig(conf);
  },
  compile(conf: FileLoggerConf, env) {
    const file = path.resolve(conf.path);
    const files = env.scope.shared<OpenFiles>('file-logger:files', () => new Map());
    return { files, file, shared: acquire(files, file, env.log, env.scope), entry: compileEntry(conf), match: compileMatch(conf.match) };
  },
  destroy(c) {
    release(c.files, c.file, c.shared);
  },
  async rewrite(ctx, c) {
    await c.entry.prepare(ctx);
  },
  log(ctx, c) {
    try {
      if (c.match && !c.match.some((e) => {
        try { return e(ctx); } catch { return false; }
      })) return;
      c.shared.sink.push(JSON.stringify(c.entry.build(ctx)) + '\n');
    } catch (err) {
      ctx.log.error(`file-logger: failed to write the log entry: ${(err as Error).message}`);
    }
  },
};
