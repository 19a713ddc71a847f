/**
 * Decides how many of a sole member's batched requests the Ready loop hands to raft now, so that
 * the WAL's fsync of one group of requests runs while the previous group is applied.
 *
 * The WAL syncs one save at a time (a sole leader queues the next Ready's save while one syncs:
 * Member#handlePipelined, but that save's fsync starts only after). With N requests in flight they settle into
 * groups: every caller answered by one apply proposes again at once, and its request waits for
 * the next save. In one group, each cycle is the group's fsync and then its apply (the CPU: the
 * state machine and the callers), one after the other: N per F + C·N, where F is the fsync's time
 * and C the CPU per request. In two groups, one is applied while the other's fsync runs: N/2 per
 * max(F, C·N/2). Two groups win exactly when C·N > F, the case of a fast disk (an NVMe fsync is
 * ~0.1-1 ms; 256 puts are ~1.5 ms of CPU); one group wins on a slow disk, where the fsync is the
 * whole cycle and should carry every request.
 *
 * So, from the measured F and C (moving averages), and whether the next Ready applies a group
 * (`overlap`): with nothing to apply meanwhile and C·N > F, propose half now and half at the next
 * Ready (two groups form and stay, since each group's callers propose during the other's fsync);
 * with a group to apply and F > MERGE_MARGIN · C·N (N counting both groups), hold the pending
 * ones back one Ready, so that they join the applied group's callers in one group again. Anything
 * else proposes all. With no measurement (a simulated clock that does not move inside a Ready),
 * it proposes all: the schedule is what it was without pacing.
 */
export class ProposalPacer {
  /** Moving average of a save's time from its call to its durability, ms. */
  #fsyncMs = 0
  /** Moving average of the main thread's time per request applied (callers' follow-ups included), ms. */
  #cpuMsPerRequest = 0

  /** A save that synced took `ms`. */
  saved(ms: number): void {
    this.#fsyncMs = average(this.#fsyncMs, ms)
  }

  /** Applying `requests` requests, and what their callers did on being answered, took `ms`. */
  applied(ms: number, requests: number): void {
    if (requests > 0) this.#cpuMsPerRequest = average(this.#cpuMsPerRequest, ms / requests)
  }

  /**
   * How many of `pending` batched requests to propose now (0 to hold them one Ready, at most
   * `pending`); `overlap` when the next Ready applies a group of requests.
   */
  take(pending: number, overlap: boolean): number {
    const f = this.#fsyncMs
    const c = this.#cpuMsPerRequest
    if (f <= 0 || c <= 0 || pending === 0) return pending
    if (!overlap) return pending >= 2 * MIN_GROUP && c * pending > f ? Math.ceil(pending / 2) : pending
    return f > MERGE_MARGIN * c * 2 * pending ? 0 : pending
  }
}

/** The fewest requests a group split off holds: below it the fsync's fixed cost dominates. */
const MIN_GROUP = 16
/** Hysteresis against flapping between one group and two near C·N = F. */
const MERGE_MARGIN = 1.5

/** Weight of the newest sample: about the last ten Readies count. */
const average = (avg: number, sample: number): number => (avg === 0 ? sample : avg + (sample - avg) * 0.1)
