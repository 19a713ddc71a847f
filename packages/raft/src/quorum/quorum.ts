/** The outcome of a vote count. */
export const VoteResult = { Pending: 1, Lost: 2, Won: 3 } as const
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult]

/** The acknowledged (durable) index of a voter, or undefined if unknown. */
export type AckedIndexer = (id: number) => number | undefined

/** The committed index of an empty configuration: nothing constrains it. */
export const maxIndex = Number.MAX_SAFE_INTEGER
