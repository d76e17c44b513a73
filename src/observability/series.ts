// Counters and histograms whose labelled children are looked up once and then
// updated with plain arithmetic. prom-client hashes and validates the label
// object on every inc()/observe() (and allocates while doing so), which was
// the largest single source of garbage per proxied request. These classes
// register in a prom-client Registry and answer `get()` in prom-client's own
// shape, so the exposition text, the registry and its cluster aggregator
// stay prom-client's.
import type { Registry } from 'prom-client';

type LabelValues = Record<string, string>;

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface MetricData {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: MetricValue[];
  aggregator: 'sum';
}

export class CounterChild {
  value = 0;
  constructor(readonly labels: LabelValues) {}
  inc(v: number): void {
    this.value += v;
  }
}

export class HistogramChild {
  /** per-bucket (non-cumulative) counts; the last slot is +Inf */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly labels: LabelValues, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

abstract class SeriesMetric<C extends { labels: LabelValues }> {
  readonly aggregator = 'sum' as const;
  protected readonly children = new Map<string, C>();
  constructor(readonly name: string, readonly help: string, registry: Registry) {
    registry.registerMetric(this as never);
  }
  /**
   * The child for a label set. `key` must identify the label values (the
   * caller builds it from the same values, usually joined with '\0'); `make`
   * builds the label object only the first time.
   */
  child(key: string, make: () => LabelValues): C {
    let c = this.children.get(key);
    if (c === undefined) {
      c = this.create(make());
      this.children.set(key, c);
    }
    return c;
  }
  reset(): void {
    this.children.clear();
  }
  protected abstract create(labels: LabelValues): C;
}

export class SeriesCounter extends SeriesMetric<CounterChild> {
  readonly type = 'counter' as const;
  protected create(labels: LabelValues): CounterChild {
    return new CounterChild(labels);
  }
  async get(): Promise<MetricData> {
    const values: MetricValue[] = [];
    for (const c of this.children.values()) values.push({ labels: c.labels, value: c.value });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

export class SeriesHistogram extends SeriesMetric<HistogramChild> {
  readonly type = 'histogram' as const;
  readonly bounds: readonly number[];
  constructor(name: string, help: string, registry: Registry, bounds: readonly number[]) {
    super(name, help, registry);
    this.bounds = [...bounds].sort((a, b) => a - b);
  }
  protected create(labels: LabelValues): HistogramChild {
    return new HistogramChild(labels, this.bounds);
  }
  async get(): Promise<MetricData> {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.children.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += c.counts[i]!;
        values.push({ labels: { ...c.labels, le: this.bounds[i]! }, value: acc, metricName: bucket });
      }
      acc += c.counts[this.bounds.length]!;
      values.push({ labels: { ...c.labels, le: '+Inf' }, value: acc, metricName: bucket });
      values.push({ labels: c.labels, value: c.sum, metricName: `${this.name}_sum` });
      values.push({ labels: c.labels, value: c.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
