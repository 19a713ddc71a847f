import { readFileSync, writeFileSync } from 'node:fs'

/**
 * A small reader/runner for etcd's data-driven test format (cockroachdb/datadriven):
 *
 *   # comment
 *   command arg key=value key=(a,b)
 *   optional body lines
 *   ----
 *   expected output (up to the next blank line)
 *
 * REWRITE=1 writes the actual outputs back into the file (review the diff before committing).
 */

export interface CmdArg {
  readonly key: string
  readonly vals: readonly string[]
}

export interface TestCase {
  readonly pos: string
  readonly cmd: string
  readonly args: readonly CmdArg[]
  readonly body: string
  readonly expected: string
}

function parseArgs(line: string): { cmd: string; args: CmdArg[] } {
  const tokens = line.match(/\S+=\([^)]*\)|\S+/g) ?? []
  const [cmd, ...rest] = tokens
  const args = rest.map((t) => {
    const eq = t.indexOf('=')
    if (eq < 0) return { key: t, vals: [] }
    const key = t.slice(0, eq)
    let v = t.slice(eq + 1)
    if (v.startsWith('(') && v.endsWith(')')) v = v.slice(1, -1)
    return { key, vals: v === '' ? [] : v.split(',').map((x) => x.trim()) }
  })
  return { cmd: cmd ?? '', args }
}

interface Block { start: number; end: number; case: TestCase }

function parse(path: string, text: string): Block[] {
  const lines = text.split('\n')
  const blocks: Block[] = []
  let i = 0
  while (i < lines.length) {
    const line = lines[i]!
    if (line.trim() === '' || line.startsWith('#')) { i++; continue }
    const start = i
    const { cmd, args } = parseArgs(line)
    const body: string[] = []
    i++
    while (i < lines.length && lines[i] !== '----') body.push(lines[i++]!)
    if (i >= lines.length) throw new Error(`${path}:${start + 1}: missing ---- after command`)
    i++
    const out: string[] = []
    while (i < lines.length && lines[i]!.trim() !== '') out.push(lines[i++]!)
    blocks.push({ start, end: i, case: { pos: `${path}:${start + 1}`, cmd, args, body: body.join('\n'), expected: out.join('\n') } })
  }
  return blocks
}

/** Runs every case of `path` through `handler`; returns mismatches (or rewrites the file). */
export function runDataDrivenFile(path: string, handler: (tc: TestCase) => string): string[] {
  const text = readFileSync(path, 'utf8')
  const blocks = parse(path, text)
  const rewrite = process.env['REWRITE'] === '1'
  const failures: string[] = []
  const lines = text.split('\n')
  const outLines: string[] = []
  let copied = 0
  for (const b of blocks) {
    const actual = handler(b.case).replace(/\n+$/, '')
    if (actual !== '' && actual.split('\n').some((l) => l.trim() === '')) throw new Error(`${b.case.pos}: output must not contain blank lines`)
    const dashes = lines.indexOf('----', b.start)
    for (; copied <= dashes; copied++) outLines.push(lines[copied]!)
    const shown = actual === '' ? 'ok' : actual
    for (const l of shown.split('\n')) outLines.push(l)
    copied = b.end
    if (!rewrite && shown !== b.case.expected) {
      failures.push(`${b.case.pos}: ${b.case.cmd}\n--- expected\n${b.case.expected}\n--- actual\n${shown}`)
    }
  }
  for (; copied < lines.length; copied++) outLines.push(lines[copied]!)
  if (rewrite) writeFileSync(path, outLines.join('\n'))
  return failures
}

export function argValue(tc: TestCase, key: string): string | undefined {
  return tc.args.find((a) => a.key === key)?.vals[0]
}

export function argValues(tc: TestCase, key: string): readonly string[] {
  return tc.args.find((a) => a.key === key)?.vals ?? []
}

/** The bare (key-only) arguments, e.g. node ids in `process-ready 1 2`. */
export function bareArgs(tc: TestCase): string[] {
  return tc.args.filter((a) => a.vals.length === 0 && !a.key.includes('=')).map((a) => a.key)
}
