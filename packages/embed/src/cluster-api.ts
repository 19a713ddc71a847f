import type { Member as MemberRecord } from '@strata/apply'
import { EmbedError } from './errors.js'
import { Member } from './member.js'
import type { ApiContext, ResponseHeader } from './api-context.js'

/** Membership (etcd's Cluster service): changes go through raft as conf changes, one at a time. */
export class ClusterApi {
  readonly #c: ApiContext

  constructor(c: ApiContext) {
    this.#c = c
  }

  /** The members as applied from the log. */
  members(): { header: ResponseHeader; members: MemberRecord[] } {
    return { header: this.#c.header(), members: this.#c.member.sm.members.list() }
  }

  /** Adds a member (a learner with `isLearner`); it then starts with `initialCluster` listing the cluster. */
  async add(member: { readonly id: number; readonly name?: string; readonly peerUrls?: readonly string[]; readonly isLearner?: boolean }): Promise<{ header: ResponseHeader }> {
    if (!Number.isSafeInteger(member.id) || member.id < 1) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', `embed: a member id must be a positive safe integer, got ${member.id}`)
    const record: MemberRecord = { id: member.id, name: member.name ?? `member-${member.id}`, peerUrls: [...(member.peerUrls ?? [])], clientUrls: [], isLearner: member.isLearner === true }
    await this.#c.member.proposeConfChange(Member.addChange(record))
    return { header: this.#c.header() }
  }

  async remove(id: number): Promise<{ header: ResponseHeader }> {
    await this.#c.member.proposeConfChange({ transition: 0, changes: [{ type: 1, nodeId: id }], context: new Uint8Array(0) })
    return { header: this.#c.header() }
  }

  /** Replaces a voter's peer URLs (etcd's MemberUpdate): a raft UpdateNode change carrying the new record. Not for learners (the record would lose its learner flag). */
  async update(id: number, peerUrls: readonly string[]): Promise<{ header: ResponseHeader }> {
    const m = this.#c.member.sm.members.get(id)
    if (m === undefined) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', `embed: member ${id} is not in the cluster`)
    if (m.isLearner) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', `embed: member ${id} is a learner; promote it before changing its peer URLs`)
    await this.#c.member.proposeConfChange({ ...Member.addChange({ ...m, peerUrls: [...peerUrls] }), changes: [{ type: 2, nodeId: id }] })
    return { header: this.#c.header() }
  }

  /** Records this member's name and client URLs in the cluster through the log (etcd's publish at start), so every member lists them. */
  async publish(attributes: { readonly name: string; readonly clientUrls: readonly string[] }): Promise<{ header: ResponseHeader }> {
    if (typeof attributes?.name !== 'string' || !Array.isArray(attributes.clientUrls) || !attributes.clientUrls.every((u) => typeof u === 'string')) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', 'embed: publish takes { name: string, clientUrls: string[] }')
    const outcome = await this.#c.member.propose({ kind: 'memberAttrSet', memberId: this.#c.member.memberId, name: attributes.name, clientUrls: [...attributes.clientUrls] })
    return { header: this.#c.header(outcome) }
  }

  /** Promotes a learner to a voter. */
  async promote(id: number): Promise<{ header: ResponseHeader }> {
    const m = this.#c.member.sm.members.get(id)
    if (m === undefined) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', `embed: member ${id} is not in the cluster`)
    await this.#c.member.proposeConfChange({ transition: 0, changes: [{ type: 0, nodeId: id }], context: new Uint8Array(0) })
    return { header: this.#c.header() }
  }

  /** Hands leadership to `id` (run it on the leader). */
  transferLeadership(id: number): { header: ResponseHeader } {
    if (!this.#c.member.isLeader) throw new EmbedError('ERR_EMBED_NOT_LEADER', `embed: leadership is transferred by the leader (member ${this.#c.member.leader})`, { leader: this.#c.member.leader })
    this.#c.member.transferLeadership(id)
    return { header: this.#c.header() }
  }
}
