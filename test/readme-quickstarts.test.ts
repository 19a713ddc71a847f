// README quick starts cannot drift (CONTRIBUTING.md, "Public API"): the one ```ts block under
// each README's `## Quick start` is written to `packages/<p>/.quickstart-<random>.ts` (inside
// the package, so its workspace imports resolve as the package's own would), run with
// `node --conditions=source --import tsx` from the repository root, and must exit 0 within 60 s
// (a quick start that leaves the process alive fails too). The file is deleted afterwards.
// Each quick start also type-checks (strict, the repository's compiler options, against the
// packages' sources) so its types cannot drift either.
// And every relative link in every README.md points at an existing file inside the repository.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const root = fileURLToPath(new URL('..', import.meta.url))
const TIMEOUT_MS = 60_000
/** Packages whose README must have a quick start; any other non-private package that exports something must too. */
const MUST_HAVE_QUICK_START = ['seams', 'wal', 'raft', 'backend', 'mvcc', 'lease', 'auth']

/** The ```ts blocks of the `## Quick start` section (up to the next `#`/`##` heading outside a code block). */
export function quickStartBlocks(markdown: string): string[] {
  const blocks: string[] = []
  let inSection = false
  let fence: { lang: string; lines: string[] } | undefined
  for (const line of markdown.split('\n')) {
    if (fence !== undefined) {
      if (/^\s*```\s*$/.test(line)) {
        if (inSection && fence.lang === 'ts') blocks.push(fence.lines.join('\n'))
        fence = undefined
      } else fence.lines.push(line)
      continue
    }
    const open = /^\s*```\s*([\w-]*)/.exec(line)
    if (open !== null) { fence = { lang: open[1] ?? '', lines: [] }; continue }
    const heading = /^(#{1,2})\s+(.*)$/.exec(line)
    if (heading !== null) inSection = heading[1] === '##' && /^quick start\s*$/i.test(heading[2] ?? '')
  }
  return blocks
}

/** The relative link targets of a markdown file, outside code blocks and code spans. */
export function relativeLinks(markdown: string): string[] {
  const text = markdown.replace(/^\s*```[\s\S]*?^\s*```\s*$/gm, '').replace(/`[^`\n]*`/g, '')
  const targets = [
    ...[...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+["'][^)]*["'])?\s*\)/g)].map((m) => m[1] ?? ''),
    ...[...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+["'].*["'])?\s*$/gm)].map((m) => m[1] ?? ''),
  ]
  return targets.filter((t) => t !== '' && !t.startsWith('#') && !/^[a-z][a-z0-9+.-]*:/i.test(t))
}

function isPrivate(pkg: string): boolean {
  return (JSON.parse(readFileSync(join(root, 'packages', pkg, 'package.json'), 'utf8')) as { private?: boolean }).private === true
}
function exportsSomething(pkg: string): boolean {
  const file = join(root, 'packages', pkg, 'src/index.ts')
  if (!existsSync(file)) return false
  const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
  return /^\s*export\b(?!\s*\{\s*\}\s*;?\s*$)/m.test(src)
}

const packages = readdirSync(join(root, 'packages')).sort().filter((p) => existsSync(join(root, 'packages', p, 'package.json')))
const required = new Set([...MUST_HAVE_QUICK_START, ...packages.filter((p) => !isPrivate(p) && exportsSomething(p))])

/** Every README.md in the repository outside node_modules, dist and dot-directories. */
function readmes(dir = root): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    if (name.startsWith('.') || name === 'node_modules' || name === 'dist') return []
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return readmes(p)
    return name === 'README.md' ? [p] : []
  })
}

interface Run { code: number | string; out: string; ms: number }

/** Writes `source` into packages/<pkg>/ and runs it as the test runner runs tests; always deletes it. */
function runQuickStart(pkg: string, source: string): Promise<Run> {
  const file = join(root, 'packages', pkg, `.quickstart-${randomBytes(6).toString('hex')}.ts`)
  writeFileSync(file, source)
  const t0 = performance.now()
  return new Promise<Run>((done) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', file], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, TIMEOUT_MS)
    child.on('error', (err) => { out += `\n${err.message}` })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      done({ code: timedOut ? `timeout: still running after ${TIMEOUT_MS / 1000} s (a timer, thread or handle keeps the process alive?)` : (code ?? String(signal)), out, ms: performance.now() - t0 })
    })
  }).finally(() => rmSync(file, { force: true }))
}

// Start the runs at once (a few at a time); each test awaits its own.
const jobs = Math.max(1, Math.min(4, availableParallelism()))
let running = 0
const queue: (() => void)[] = []
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= jobs) await new Promise<void>((go) => queue.push(go))
  running++
  try { return await fn() } finally { running--; queue.shift()?.() }
}

/** Each README with the package directory its quick start runs in: the root README's in packages/embed, which depends on every package. */
const targets = [
  ...packages.filter((p) => existsSync(join(root, 'packages', p, 'README.md'))).map((p) => ({ readme: `packages/${p}/README.md`, pkg: p })),
  { readme: 'README.md', pkg: 'embed' },
]
const blocksOf = new Map(targets.map((t) => [t.readme, quickStartBlocks(readFileSync(join(root, t.readme), 'utf8'))]))
const runs = new Map<string, Promise<Run>>()
for (const t of targets) {
  const blocks = blocksOf.get(t.readme) ?? []
  if (blocks.length === 1) runs.set(t.readme, limited(() => runQuickStart(t.pkg, blocks[0] ?? '')))
}

/**
 * Type-checks every quick start in one tsc run (strict, tsconfig.base.json's options, `@strata/*`
 * resolved to each package's source through the `source` condition, as tsx runs them).
 * Resolves with tsc's diagnostics per README.
 */
function typeCheckQuickStarts(): Promise<{ code: number | string; byReadme: Map<string, string[]>; other: string[] }> {
  const files = new Map<string, string>() // file -> readme
  for (const t of targets) {
    const blocks = blocksOf.get(t.readme) ?? []
    if (blocks.length !== 1) continue
    const file = join(root, 'packages', t.pkg, `.quickstart-${randomBytes(6).toString('hex')}.ts`)
    writeFileSync(file, blocks[0] ?? '')
    files.set(file, t.readme)
  }
  const dir = mkdtempSync(join(tmpdir(), 'strata-quickstart-tsc-'))
  const config = join(dir, 'tsconfig.json')
  writeFileSync(config, JSON.stringify({
    extends: join(root, 'tsconfig.base.json'),
    compilerOptions: { noEmit: true, composite: false, incremental: false, declaration: false, declarationMap: false, sourceMap: false, customConditions: ['source'], typeRoots: [join(root, 'node_modules/@types')] },
    files: [...files.keys()],
  }))
  return new Promise<{ code: number | string; byReadme: Map<string, string[]>; other: string[] }>((done) => {
    const child = spawn(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', config, '--pretty', 'false'], { cwd: root })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const byReadme = new Map<string, string[]>()
      const other: string[] = []
      for (const line of out.split('\n').filter((l) => l.trim() !== '')) {
        const file = [...files.keys()].find((f) => line.startsWith(relative(root, f)) || line.startsWith(f))
        const readme = file === undefined ? undefined : files.get(file)
        if (readme === undefined) other.push(line)
        else byReadme.set(readme, [...(byReadme.get(readme) ?? []), line.replace(/^[^(]*/, 'quick start')])
      }
      done({ code: code ?? String(signal), byReadme, other })
    })
  }).finally(() => {
    for (const f of files.keys()) rmSync(f, { force: true })
    rmSync(dir, { recursive: true, force: true })
  })
}
const typeCheck = limited(typeCheckQuickStarts)

test('the quick start extractor takes the ts block of the Quick start section only', () => {
  const md = '# x\n\n## Quick start\n\ntext\n\n```ts\nconst a = 1\n# not a heading\n```\n\n```sh\nnpm i\n```\n\n## API\n\n```ts\nconst b = 2\n```\n'
  assert.equal(quickStartBlocks(md), ['const a = 1\n# not a heading'])
  assert.equal(relativeLinks('[a](x/y.md) [b](https://e.org) [c](#h) `[d](no.md)` [e](../out.md "t")\n```\n[f](code.md)\n```\n[g]: ./ref.md\n'), ['x/y.md', '../out.md', './ref.md'])
})

test(`every package that exports something has a quick start (${[...required].join(', ')})`, () => {
  const problems: string[] = []
  for (const p of required) {
    const blocks = blocksOf.get(`packages/${p}/README.md`)
    if (blocks === undefined) problems.push(`packages/${p} has no README.md`)
    else if (blocks.length === 0) problems.push(`packages/${p}/README.md has no \`\`\`ts block under "## Quick start"`)
  }
  assert.ok(problems.length === 0, problems.join('\n'))
})

for (const { readme, pkg } of targets) {
  const blocks = blocksOf.get(readme) ?? []
  if (blocks.length === 0) continue
  test(`the quick start of ${readme} runs and exits 0`, async () => {
    assert.is(blocks.length, 1, `${readme} has ${blocks.length} ts blocks under "## Quick start"; CONTRIBUTING.md asks for one complete block`)
    const r = await runs.get(readme)
    assert.ok(r !== undefined)
    assert.is(r.code, 0, `the quick start of ${readme} (run as packages/${pkg}/.quickstart-*.ts) exited ${r.code} after ${(r.ms / 1000).toFixed(1)} s; it printed:\n${r.out.trim().slice(-4000)}`)
  })
}

for (const { readme } of targets) {
  if ((blocksOf.get(readme) ?? []).length !== 1) continue
  test(`the quick start of ${readme} type-checks (strict)`, async () => {
    const { byReadme } = await typeCheck
    const errors = byReadme.get(readme) ?? []
    assert.ok(errors.length === 0, `the quick start of ${readme} does not type-check (line numbers are the block's):\n${errors.join('\n')}`)
  })
}

test('the type check of the quick starts ran, with no error outside them', async () => {
  const { code, byReadme, other } = await typeCheck
  assert.ok(code === 0 || (byReadme.size > 0 && other.length === 0), `tsc over the quick starts exited ${code}:\n${other.join('\n').slice(-4000)}`)
})

test('every relative link in every README.md points at an existing file inside the repository', () => {
  const problems: string[] = []
  for (const readme of readmes()) {
    const name = relative(root, readme)
    for (const link of relativeLinks(readFileSync(readme, 'utf8'))) {
      const path = decodeURIComponent(link.replace(/[?#].*$/, ''))
      if (path === '') continue
      const target = isAbsolute(path) ? path : resolve(dirname(readme), path)
      const inside = relative(root, target)
      if (inside.startsWith('..') || isAbsolute(inside)) problems.push(`${name}: (${link}) points outside the repository`)
      else if (!existsSync(target)) problems.push(`${name}: (${link}) points at ${inside}, which does not exist`)
    }
  }
  assert.ok(problems.length === 0, problems.join('\n'))
})

test.run()
