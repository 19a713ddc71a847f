#!/usr/bin/env node
// Runs every test file (packages/*/test/**/*.test.ts and test/*.test.ts), each in its own
// process through tsx with uvu, two at a time, and ends with one line `N passed, N failed`.
// Exits non-zero on any failure, and when no test ran at all.
//
//   node scripts/test.mjs                 every test, plus a type check of tests and benches
//   node scripts/test.mjs wal raft        the tests of these packages only
//   node scripts/test.mjs path/x.test.ts  one file
// Env: TEST_JOBS (parallel files, default: cores), TEST_TIMEOUT_S (per file, default 600).
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const args = process.argv.slice(2)
const jobs = Number(process.env.TEST_JOBS ?? availableParallelism())
const timeoutMs = Number(process.env.TEST_TIMEOUT_S ?? 600) * 1000

function walk(dir) {
  if (!existsSync(dir)) return []
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return walk(p)
    return name.endsWith('.test.ts') ? [p] : []
  })
}

function selectFiles() {
  const packages = readdirSync(join(root, 'packages')).sort()
  if (args.length === 0) return [...packages.flatMap((p) => walk(join(root, 'packages', p, 'test'))), ...walk(join(root, 'test'))]
  return args.flatMap((a) => (a.endsWith('.ts') ? [join(process.cwd(), a)] : walk(join(root, 'packages', a, 'test'))))
}

/** Runs a command; resolves with its exit code (or 'timeout') and everything it printed. */
function run(cmd, argv) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => { out += `\n[killed after ${timeoutMs / 1000} s]\n`; child.kill('SIGKILL') }, timeoutMs)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? 1, out }) })
  })
}

/** Reads uvu's closing block (Total/Passed/Skipped) from a file's output. */
function tally(out, code) {
  const num = (label) => { const m = [...out.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))]; return m.reduce((s, x) => s + Number(x[1]), 0) }
  const total = num('Total'), passed = num('Passed'), skipped = num('Skipped')
  let failed = total - passed - skipped
  if (code !== 0 && failed === 0) failed = 1 // crashed outside a test, or before uvu reported
  return { passed, failed, skipped }
}

const files = selectFiles()
const sum = { passed: 0, failed: 0, skipped: 0 }
const started = performance.now()
let next = 0
async function worker() {
  while (next < files.length) {
    const file = files[next++]
    const t0 = performance.now()
    const { code, out } = await run(process.execPath, ['--conditions=source', '--import', 'tsx', file])
    const r = tally(out, code)
    for (const k of Object.keys(sum)) sum[k] += r[k]
    const secs = ((performance.now() - t0) / 1000).toFixed(1)
    const name = relative(root, file)
    if (r.failed > 0) process.stdout.write(`\n${out}\nFAIL ${name}: ${r.passed} passed, ${r.failed} failed (${secs} s)\n`)
    else process.stdout.write(`ok   ${name}: ${r.passed} passed${r.skipped ? `, ${r.skipped} skipped` : ''} (${secs} s)\n`)
  }
}
await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker))

if (args.length === 0) {
  // Tests and benchmarks are not part of any package's tsc -b build: type-check them here.
  const { code, out } = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.tests.json'])
  if (code === 0) { sum.passed += 1; console.log('ok   type check of tests, benches and examples') }
  else { sum.failed += 1; console.log(`${out}\nFAIL type check of tests, benches and examples`) }
}

console.log(`\n${files.length} files in ${((performance.now() - started) / 1000).toFixed(1)} s`)
if (sum.passed + sum.failed === 0) console.log('no test ran')
console.log(`${sum.passed} passed, ${sum.failed} failed${sum.skipped ? `, ${sum.skipped} skipped` : ''}`)
process.exitCode = sum.failed > 0 || sum.passed === 0 ? 1 : 0
