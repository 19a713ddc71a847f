import { AssertionError } from 'node:assert'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** One argument of a command line: `key`, `key=value` or `key=(a,b)`. */
export interface DataDrivenArg {
  readonly key: string
  /** `[]` for a bare `key`, `[value]` for `key=value`, the list for `key=(a, b)`. */
  readonly values: readonly string[]
}

/** A test case as the handler sees it. */
export interface TestData {
  readonly cmd: string
  readonly args: readonly DataDrivenArg[]
  /** The lines between the command line and `----`, joined with `\n` (no trailing newline). */
  readonly input: string
  /** `file:line` of the command line, for messages. */
  readonly pos: string
}

/** Runs one case and returns its actual output (a trailing newline is added when missing). */
export type DataDrivenHandler = (td: TestData) => string | Promise<string>

/** The values of argument `key`, or undefined when the command line lacks it. */
export function findArg(td: TestData, key: string): readonly string[] | undefined {
  return td.args.find((a) => a.key === key)?.values
}

/** The single value of argument `key` (or `fallback` when absent); throws on a list. */
export function argValue(td: TestData, key: string, fallback?: string): string {
  const values = findArg(td, key)
  if (values === undefined) {
    if (fallback !== undefined) return fallback
    throw new Error(`${td.pos}: ${td.cmd}: missing argument ${key}=`)
  }
  if (values.length !== 1) throw new Error(`${td.pos}: ${td.cmd}: ${key} takes one value, got (${values.join(',')})`)
  return values[0]!
}

/** The argument `key` as a safe integer (or `fallback` when absent). */
export function argInt(td: TestData, key: string, fallback?: number): number {
  const text = argValue(td, key, fallback === undefined ? undefined : String(fallback))
  const n = Number(text)
  if (!Number.isSafeInteger(n) || text.trim() === '') throw new Error(`${td.pos}: ${td.cmd}: ${key}=${text} is not an integer`)
  return n
}

/** A parsed case and where its expected output sits in the file, so REWRITE can replace it. */
export interface DataDrivenCase {
  readonly data: TestData
  readonly expected: string
  /** Lines [outputStart, outputEnd) hold the expected output, including double separators. */
  readonly outputStart: number
  readonly outputEnd: number
}

/** Splits a command line on spaces outside parentheses into the command and its arguments. */
export function parseCommandLine(line: string): { cmd: string; args: DataDrivenArg[] } {
  const tokens: string[] = []
  let current = ''
  let depth = 0
  for (const ch of line) {
    if (ch === '(') depth++
    if (ch === ')') depth = Math.max(0, depth - 1)
    if (/\s/.test(ch) && depth === 0) {
      if (current !== '') tokens.push(current)
      current = ''
    } else current += ch
  }
  if (current !== '') tokens.push(current)
  const [cmd, ...rest] = tokens
  if (cmd === undefined) throw new Error('empty command line')
  const args = rest.map((token): DataDrivenArg => {
    const eq = token.indexOf('=')
    if (eq < 0) return { key: token, values: [] }
    const key = token.slice(0, eq)
    const value = token.slice(eq + 1)
    if (!value.startsWith('(') || !value.endsWith(')')) return { key, values: [value] }
    const inner = value.slice(1, -1).trim()
    return { key, values: inner === '' ? [] : inner.split(',').map((v) => v.trim()) }
  })
  return { cmd, args }
}

/** Reads the expected output after `----` at line `at`; returns it and the line after it. */
function parseOutput(lines: readonly string[], at: number, file: string): { expected: string; end: number } {
  if (lines[at] === '----') {
    // Double-separator form: the output runs to a `----` line followed by another `----` line.
    for (let i = at + 1; i < lines.length; i++) {
      if (lines[i] === '----' && lines[i + 1] === '----') {
        const body = lines.slice(at + 1, i)
        return { expected: body.length === 0 ? '' : `${body.join('\n')}\n`, end: i + 2 }
      }
    }
    throw new Error(`${file}:${at + 1}: output opened with ----/---- is never closed`)
  }
  let end = at
  while (end < lines.length && lines[end] !== '') end++
  const body = lines.slice(at, end)
  return { expected: body.length === 0 ? '' : `${body.join('\n')}\n`, end }
}

/** Parses a data-driven file: cases separated by blank lines, `#` comments between them. */
export function parseDataDriven(text: string, file: string): DataDrivenCase[] {
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  const cases: DataDrivenCase[] = []
  let i = 0
  while (i < lines.length) {
    const line = lines[i]!
    if (line.trim() === '' || line.startsWith('#')) { i++; continue }
    const first = i
    let command = line
    while (command.endsWith('\\') && i + 1 < lines.length) command = `${command.slice(0, -1)} ${lines[++i]!.trim()}`
    i++
    const input: string[] = []
    while (i < lines.length && lines[i] !== '----') input.push(lines[i++]!)
    if (i >= lines.length) throw new Error(`${file}:${first + 1}: case has no ---- separator`)
    const { expected, end } = parseOutput(lines, i + 1, file)
    const pos = `${file}:${first + 1}`
    cases.push({ data: { ...parseCommandLine(command.trim()), input: input.join('\n'), pos }, expected, outputStart: i + 1, outputEnd: end })
    i = end
  }
  return cases
}

/** Formats an output for the file: plain, or in the double-separator form when it has blank lines. */
function formatOutput(output: string): string[] {
  if (output === '') return []
  const lines = output.slice(0, -1).split('\n')
  return lines.includes('') ? ['----', ...lines, '----', '----'] : lines
}

function withNewline(output: string): string {
  return output === '' || output.endsWith('\n') ? output : `${output}\n`
}

/**
 * Runs every case of the file at `path` in order through `handler` and compares each actual
 * output with the expected one, failing at the first difference with `file:line` and both
 * texts. With `REWRITE=1` in the environment it instead runs all cases and rewrites the file
 * with the actual outputs (commands, inputs, comments and spacing are kept).
 */
export async function runDataDriven(path: string, handler: DataDrivenHandler): Promise<void> {
  const text = readFileSync(path, 'utf8')
  const cases = parseDataDriven(text, path)
  const rewrite = process.env['REWRITE'] === '1'
  const actuals: string[] = []
  for (const c of cases) {
    let actual: string
    try {
      actual = withNewline(await handler(c.data))
    } catch (err) {
      throw new Error(`${c.data.pos}: ${c.data.cmd} threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    actuals.push(actual)
    if (!rewrite && actual !== c.expected) {
      throw new AssertionError({
        message: `${c.data.pos}: output of ${c.data.cmd} differs (REWRITE=1 regenerates)\n--- expected:\n${c.expected}--- actual:\n${actual}---`,
        expected: c.expected,
        actual,
        operator: 'datadriven',
      })
    }
  }
  if (rewrite) writeFileSync(path, rewritten(text, cases, actuals))
}

function rewritten(text: string, cases: readonly DataDrivenCase[], actuals: readonly string[]): string {
  const lines = text.split('\n')
  const trailingNewline = lines.at(-1) === ''
  if (trailingNewline) lines.pop()
  const out: string[] = []
  let at = 0
  cases.forEach((c, k) => {
    out.push(...lines.slice(at, c.outputStart), ...formatOutput(actuals[k]!))
    at = c.outputEnd
  })
  out.push(...lines.slice(at))
  return out.join('\n') + (trailingNewline ? '\n' : '')
}

/** The subset of uvu's `test` this needs. */
export type TestRegistrar = (name: string, fn: () => Promise<void>) => void

/**
 * Registers one uvu test per file in `dir` (sorted; subdirectories and names starting with `.`
 * skipped). Each file gets a fresh handler from `makeHandler`, since its cases share state in
 * order.
 */
export function registerDataDriven(test: TestRegistrar, dir: string, makeHandler: (path: string) => DataDrivenHandler): void {
  const files = readdirSync(dir).filter((name) => !name.startsWith('.') && statSync(join(dir, name)).isFile()).sort()
  if (files.length === 0) throw new Error(`registerDataDriven: no test files in ${dir}`)
  for (const name of files) {
    const path = join(dir, name)
    test(`data-driven ${name}`, () => runDataDriven(path, makeHandler(path)))
  }
}
