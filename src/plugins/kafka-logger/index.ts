// `kafka-logger` (R-LOG-4, R-LOG-6): entries are batched per plugin
// configuration; each batch becomes one Kafka message (a JSON object when
// `batch_max_size` is 1, else a JSON array) sent with a kafkajs producer.
import type { ProducerRecord, SASLOptions } from 'kafkajs';
import { createRequire } from 'node:module';
import type { PluginDef, RequestContext } from '../../core/types.js';
import type { Logger } from '../../core/log.js';
import { BatchProcessor, batchLifecycle, batchSchemaProperties, type BatchConfig, type BatchLifecycle } from '../../observability/batch.js';
import { bodySchemaProperties, checkEntryConfig, compileEntry, readRequestBody, requestBodyIfRead, type EntryBuilder, type EntryConfig } from '../../observability/log-entry.js';
import { redactionFor, redactRequestLine } from '../../observability/redact.js';
import { GatewayScope } from '../../core/lifecycle.js';
import type { LogDropCounter } from '../../core/types.js';

/** kafkajs is loaded when the first kafka-logger producer is created, not at start (RSS) */
const loadKafkajs = (): typeof import('kafkajs') => createRequire(import.meta.url)('kafkajs');

export interface KafkaBroker {
  host: string;
  port: number;
  sasl_config?: { mechanism?: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; user: string; password: string };
}

export interface KafkaLoggerConf extends EntryConfig, BatchConfig {
  brokers?: KafkaBroker[];
  broker_list?: Record<string, number>;
  kafka_topic: string;
  key?: string;
  producer_type?: 'async' | 'sync';
  required_acks?: 1 | -1;
  timeout?: number;
  meta_format?: 'default' | 'origin';
  cluster_name?: number;
  producer_batch_num?: number;
  producer_batch_size?: number;
  producer_max_buffering?: number;
  producer_time_linger?: number;
  meta_refresh_interval?: number;
}

/** the part of a kafkajs Producer the logger uses (the client boundary) */
export interface KafkaProducerLike {
  connect(): Promise<void>;
  send(record: ProducerRecord): Promise<unknown>;
  disconnect(): Promise<void>;
}

export type KafkaProducerFactory = (conf: KafkaLoggerConf, log: Logger) => KafkaProducerLike;

export function kafkaBrokers(conf: KafkaLoggerConf): string[] {
  if (conf.brokers?.length) return conf.brokers.map((b) => `${b.host}:${b.port}`);
  return Object.entries(conf.broker_list ?? {}).map(([h, p]) => `${h}:${p}`);
}

function saslOf(conf: KafkaLoggerConf): SASLOptions | undefined {
  const s = conf.brokers?.find((b) => b.sasl_config)?.sasl_config;
  if (!s) return undefined;
  const mech = (s.mechanism ?? 'PLAIN').toLowerCase();
  if (mech === 'scram-sha-256') return { mechanism: 'scram-sha-256', username: s.user, password: s.password };
  if (mech === 'scram-sha-512') return { mechanism: 'scram-sha-512', username: s.user, password: s.password };
  return { mechanism: 'plain', username: s.user, password: s.password };
}

/** the real producer: kafkajs, connected lazily, no kafkajs-level retries (the batch processor retries) */
export const kafkajsProducerFactory: KafkaProducerFactory = (conf, log) => {
  const timeoutMs = (conf.timeout ?? 3) * 1000;
  const { Kafka, logLevel } = loadKafkajs();
  const kafka = new Kafka({
    clientId: `switchyard-${conf.cluster_name ?? 1}`,
    brokers: kafkaBrokers(conf),
    sasl: saslOf(conf),
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({
    allowAutoTopicCreation: true,
    metadataMaxAge: (conf.meta_refresh_interval ?? 30) * 1000,
    retry: { retries: 0 },
  });
  void log;
  return producer;
};

let producerFactory: KafkaProducerFactory = kafkajsProducerFactory;

/** replace the producer factory (the client boundary used by tests); returns the previous one */
export function setKafkaProducerFactory(f: KafkaProducerFactory | undefined): KafkaProducerFactory {
  const prev = producerFactory;
  producerFactory = f ?? kafkajsProducerFactory;
  return prev;
}

/** R-LOG-6 `meta_format: origin`: the raw request (request line, headers, body), CRLF-separated */
export function originMessage(ctx: RequestContext, body: Buffer | undefined): string {
  const r = redactionFor(ctx);
  const line = redactRequestLine(`${ctx.method} ${ctx.req.url ?? ctx.uri} HTTP/${ctx.req.httpVersion}`, r);
  let out = line + '\r\n';
  const raw = ctx.req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (r.headers.has(raw[i]!.toLowerCase())) continue;
    out += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  out += '\r\n';
  if (body) out += body.toString('utf8');
  return out;
}

/** the message value of one batch */
export function encodeKafkaBatch(entries: unknown[], conf: Pick<KafkaLoggerConf, 'batch_max_size'>): string {
  if ((conf.batch_max_size ?? 1000) === 1 && entries.length === 1) {
    const e = entries[0];
    return typeof e === 'string' ? e : JSON.stringify(e);
  }
  return JSON.stringify(entries);
}

/** `close` flushes pending batches, then disconnects */
export interface CompiledKafkaLogger extends BatchLifecycle {
  conf: KafkaLoggerConf;
  entry: EntryBuilder;
  batch: BatchProcessor<unknown>;
  producer: KafkaProducerLike;
}

export function compileKafkaLogger(conf: KafkaLoggerConf, log: Logger, opts: { scope?: GatewayScope; drops?: LogDropCounter } = {}): CompiledKafkaLogger {
  const producer = producerFactory(conf, log);
  let connected: Promise<void> | undefined;
  const connect = () => {
    connected ??= producer.connect().catch((err: unknown) => {
      connected = undefined;
      throw err;
    });
    return connected;
  };
  const timeoutMs = (conf.timeout ?? 3) * 1000;
  const send = async (entries: unknown[]) => {
    await connect();
    await producer.send({
      topic: conf.kafka_topic,
      acks: conf.required_acks ?? 1,
      timeout: timeoutMs,
      messages: [{ key: conf.key ?? null, value: encodeKafkaBatch(entries, conf) }],
    });
  };
  const batch = new BatchProcessor<unknown>({
    ...conf,
    name: conf.name ?? 'kafka logger',
    send,
    log,
    maxBuffered: conf.producer_max_buffering ?? 50000,
    drops: opts.drops,
  });
  return { conf, entry: compileEntry(conf), batch, producer, ...batchLifecycle(batch, () => producer.disconnect(), opts.scope ?? new GatewayScope()) };
}

const brokerSchema = {
  type: 'object',
  properties: {
    host: { type: 'string', description: 'the host of kafka broker' },
    port: { type: 'integer', minimum: 1, maximum: 65535, description: 'the port of kafka broker' },
    sasl_config: {
      type: 'object',
      description: 'sasl config',
      properties: {
        mechanism: { type: 'string', default: 'PLAIN', enum: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] },
        user: { type: 'string', description: 'user' },
        password: { type: 'string', description: 'password' },
      },
      required: ['user', 'password'],
    },
  },
  required: ['host', 'port'],
};

export const kafkaLoggerSchema = {
  type: 'object',
  properties: {
    meta_format: { type: 'string', default: 'default', enum: ['default', 'origin'] },
    log_format: { type: 'object' },
    broker_list: {
      type: 'object',
      minProperties: 1,
      patternProperties: {
        '.*': { description: 'the port of kafka broker', type: 'integer', minimum: 1, maximum: 65535 },
      },
    },
    brokers: { type: 'array', minItems: 1, uniqueItems: true, items: brokerSchema },
    kafka_topic: { type: 'string' },
    producer_type: { type: 'string', default: 'async', enum: ['async', 'sync'] },
    required_acks: { type: 'integer', default: 1, enum: [1, -1] },
    key: { type: 'string' },
    timeout: { type: 'integer', minimum: 1, default: 3 },
    ...bodySchemaProperties,
    cluster_name: { type: 'integer', minimum: 1, default: 1 },
    producer_batch_num: { type: 'integer', minimum: 1, default: 200 },
    producer_batch_size: { type: 'integer', minimum: 0, default: 1048576 },
    producer_max_buffering: { type: 'integer', minimum: 1, default: 50000 },
    producer_time_linger: { type: 'integer', minimum: 1, default: 1 },
    meta_refresh_interval: { type: 'integer', minimum: 1, default: 30 },
    ...batchSchemaProperties('kafka logger'),
  },
  oneOf: [
    { required: ['broker_list', 'kafka_topic'] },
    { required: ['brokers', 'kafka_topic'] },
  ],
  // R-SEC-10: stored encrypted (as APISIX)
  encrypt_fields: ['brokers.sasl_config.password'],
};

export const kafkaLogger: PluginDef<CompiledKafkaLogger> = {
  name: 'kafka-logger',
  priority: 403,
  schema: kafkaLoggerSchema,
  check(conf: KafkaLoggerConf) {
    return checkEntryConfig(conf);
  },
  compile(conf: KafkaLoggerConf, env) {
    return compileKafkaLogger(conf, env.log, { scope: env.scope, drops: env.metrics.logDrops });
  },
  destroy(c) {
    c.retire();
  },
  async rewrite(ctx, c) {
    if (c.conf.meta_format === 'origin') {
      if (c.conf.include_req_body) {
        try { await readRequestBody(ctx); } catch { /* logged without body */ }
      }
      return;
    }
    await c.entry.prepare(ctx);
  },
  log(ctx, c) {
    try {
      if (c.conf.meta_format === 'origin') {
        c.batch.push(originMessage(ctx, c.conf.include_req_body ? requestBodyIfRead(ctx) : undefined));
        return;
      }
      c.batch.push(c.entry.build(ctx));
    } catch (err) {
      ctx.log.error(`kafka-logger: failed to build the log entry: ${(err as Error).message}`);
    }
  },
};
