import type { Message } from '../../src/index.js'
import { ProposalDroppedError } from '../../src/index.js'
import type { NodeConfig } from './node.js'
import { bootstrapStorage, TestNode } from './node.js'

/** In-process cluster that delivers every message at once unless a filter drops it. */
export class Cluster {
  readonly nodes = new Map<number, TestNode>()
  queue: Message[] = []
  /** Return false to drop a message in flight. */
  filter: (m: Message) => boolean = () => true

  constructor(ids: number[], config: NodeConfig = {}, configFor?: (id: number) => NodeConfig) {
    for (const id of ids) this.nodes.set(id, new TestNode(id, bootstrapStorage({ voters: ids }), { ...config, ...configFor?.(id) }))
  }

  node(id: number): TestNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  /** Isolates `id`: every message to or from it is dropped. */
  isolate(id: number): void {
    this.filter = (m) => m.from !== id && m.to !== id
  }

  heal(): void {
    this.filter = () => true
  }

  /** Processes Readies and delivers messages until nothing is left to do. */
  stabilize(limit = 10_000): void {
    for (let i = 0; i < limit; i++) {
      let busy = false
      for (const n of this.nodes.values()) {
        const msgs = n.handleReady()
        if (msgs.length > 0 || busy) busy = true
        for (const m of msgs) this.queue.push(m)
      }
      const q = this.queue
      this.queue = []
      for (const m of q) {
        if (!this.filter(m)) continue
        const to = this.nodes.get(m.to)
        if (to === undefined) continue
        busy = true
        try {
          to.rn.step(m)
        } catch (err) {
          if (!(err instanceof ProposalDroppedError)) throw err
        }
      }
      if (!busy && ![...this.nodes.values()].some((n) => n.rn.hasReady())) return
    }
    throw new Error('cluster did not stabilize')
  }

  campaign(id: number): void {
    this.node(id).rn.campaign()
    this.stabilize()
  }

  propose(id: number, data: string): void {
    this.node(id).rn.propose(new TextEncoder().encode(data))
    this.stabilize()
  }

  leaders(): number[] {
    return [...this.nodes.values()].filter((n) => n.rn.state === 2).map((n) => n.id)
  }

  tickAll(n: number): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) node.rn.tick()
      this.stabilize()
    }
  }
}

