// The Prometheus text exposition format (version 0.0.4) for the few metric kinds `strata serve`
// reports, written without a metrics library: a server's start should not load one to count a
// handful of numbers that are only read when /metrics is scraped (issue 15). prom-client is
// imported at the first scrape, for its process metrics only (metrics.ts).

/** The content type of the text format, as Prometheus and prom-client name it. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export type Labels = Readonly<Record<string, string>>

/** One sample of a family: its labels (none: `{}`) and value. */
export interface Sample {
  readonly labels: Labels
  readonly value: number
}

/** A label value escaped as the format asks: backslash, double quote and newline. */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

function sampleLine(name: string, labels: Labels, value: number): string {
  const keys = Object.keys(labels)
  const l = keys.length === 0 ? '' : `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',')}}`
  return `${name}${l} ${formatValue(value)}\n`
}

/** A gauge or counter family: HELP, TYPE, then a line per sample (none: the family has no value now). */
export function writeFamily(name: string, help: string, type: 'gauge' | 'counter', samples: readonly Sample[]): string {
  let out = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`
  for (const s of samples) out += sampleLine(name, s.labels, s.value)
  return out
}

/**
 * A histogram without labels: counts per bucket, their sum and count. `observe` is a few
 * comparisons and two additions; the cumulative `le` counts are made when it is written.
 * Invariant: counts[i] is the number of observations v with buckets[i-1] < v <= buckets[i];
 * count - sum(counts) of them were above the last bucket.
 */
export class Histogram {
  readonly #buckets: readonly number[]
  readonly #counts: number[]
  #sum = 0
  #count = 0

  /** `buckets`: the upper bounds, ascending (the +Inf bucket is implied). */
  constructor(buckets: readonly number[]) {
    for (let i = 1; i < buckets.length; i++) if (!(buckets[i]! > buckets[i - 1]!)) throw new RangeError('histogram buckets must ascend')
    this.#buckets = [...buckets]
    this.#counts = new Array<number>(buckets.length).fill(0)
  }

  observe(v: number): void {
    this.#sum += v
    this.#count++
    const b = this.#buckets
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.#counts[i]!++
        return
      }
    }
  }

  /** The family in the text format: `_bucket{le=...}` cumulative counts, `_sum`, `_count`. */
  write(name: string, help: string): string {
    let out = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} histogram\n`
    let cumulative = 0
    for (let i = 0; i < this.#buckets.length; i++) {
      cumulative += this.#counts[i]!
      out += sampleLine(`${name}_bucket`, { le: formatValue(this.#buckets[i]!) }, cumulative)
    }
    out += sampleLine(`${name}_bucket`, { le: '+Inf' }, this.#count)
    out += sampleLine(`${name}_sum`, {}, this.#sum)
    out += sampleLine(`${name}_count`, {}, this.#count)
    return out
  }
}
