// Installable and usable outside this repository (CONTRIBUTING.md, "Packaging"): every package a
// user imports is built, packed with `pnpm pack`, installed with plain npm into a fresh project in
// a temporary directory, and used there by a consumer (test/pack-consumer.ts) that
//  - type-checks under moduleResolution NodeNext (module NodeNext) and bundler (module ESNext),
//    both strict with skipLibCheck false, with the repository's own TypeScript;
//  - type-checks the other entry points' declarations (`./internal`) under NodeNext: Strata's
//    own must be sound; a third-party package's broken declarations only get a note there;
//  - runs (what tsc emits for NodeNext), doing one real thing with each package, and exits 0;
//  - with fs-ext (a native addon) removed, still imports every package (only the lock fails).
// One npm install serves both type checks and the run. It needs the npm registry for the
// packages' third-party dependencies (lmdb, fs-ext, ...), so it works from an empty npm cache.
//
// Env: STRATA_PACK_KEEP=1 keeps the temporary directory (its path is printed) to look into.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { consumerSource, entryPointsSource } from './pack-consumer.js'

const root = fileURLToPath(new URL('..', import.meta.url))
/** The packages a user imports today: each must be packed, installed and used. */
const MUST_PACK = ['seams', 'wal', 'raft', 'backend', 'mvcc', 'lease', 'auth']

interface Run { code: number | string; out: string; ms: number }

/** Runs a command to its end (or kills it after `timeoutMs`); never throws. */
function run(cmd: string, args: readonly string[], options: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<Run> {
  const t0 = performance.now()
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: { ...process.env, FORCE_COLOR: '0', ...options.env } })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, options.timeoutMs)
    child.on('error', (err) => { out += `\n${err.message}` })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const ms = performance.now() - t0
      resolve({ code: timedOut ? `timeout after ${options.timeoutMs / 1000} s` : (code ?? String(signal)), out, ms })
    })
  })
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
function report(what: string, r: Run): string {
  return `${what} exited ${r.code} after ${secs(r.ms)}:\n${r.out.trim().slice(-6000)}`
}

/** Whether a package's src/index.ts exports anything (`export {}` alone does not count). */
function exportsSomething(pkg: string): boolean {
  const file = join(root, 'packages', pkg, 'src/index.ts')
  if (!existsSync(file)) return false
  const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
  return /^\s*export\b(?!\s*\{\s*\}\s*;?\s*$)/m.test(src)
}

/** Every non-private package whose src/index.ts exports something. */
const packages = readdirSync(join(root, 'packages')).sort().filter((p) => {
  const manifest = join(root, 'packages', p, 'package.json')
  if (!existsSync(manifest)) return false
  const json = JSON.parse(readFileSync(manifest, 'utf8')) as { private?: boolean }
  return json.private !== true && exportsSomething(p)
})

const work = mkdtempSync(join(tmpdir(), 'strata-pack-'))
const packs = join(work, 'packs')
const consumer = join(work, 'consumer')
const tarballs = new Map<string, string>() // package dir name -> tarball path
const subpaths: string[] = [] // other entry points of the packed packages, as a consumer imports them
const timings: string[] = []
let installed = false

test('every package a user imports is in the set to pack', () => {
  console.log(`packing: ${packages.join(', ')} (in ${work})`)
  for (const p of MUST_PACK) assert.ok(packages.includes(p), `packages/${p} is private or its src/index.ts exports nothing`)
})

test('tsc -b builds every package', async () => {
  const r = await run('bash', ['scripts/pnpm.sh', 'exec', 'tsc', '-b'], { cwd: root, timeoutMs: 300_000 })
  timings.push(`build ${secs(r.ms)}`)
  assert.is(r.code, 0, report('tsc -b', r))
})

test('pnpm pack makes a tarball of each, with dist, and no workspace: dependency left', async () => {
  const runs = await Promise.all(packages.map(async (p) => {
    const r = await run('bash', ['scripts/pnpm.sh', '-C', `packages/${p}`, 'pack', '--pack-destination', packs], { cwd: root, timeoutMs: 120_000 })
    return { p, r }
  }))
  timings.push(`pack ${secs(Math.max(...runs.map((x) => x.r.ms)))}`)
  const problems: string[] = []
  for (const { p, r } of runs) {
    if (r.code !== 0) { problems.push(report(`pnpm pack of ${p}`, r)); continue }
    const tgz = r.out.trim().split('\n').map((l) => l.trim()).reverse().find((l) => l.endsWith('.tgz'))
    if (tgz === undefined || !existsSync(tgz)) { problems.push(`pnpm pack of ${p} named no tarball:\n${r.out}`); continue }
    tarballs.set(p, tgz)
    const list = await run('tar', ['-tzf', tgz], { cwd: work, timeoutMs: 30_000 })
    const manifest = await run('tar', ['-xzOf', tgz, 'package/package.json'], { cwd: work, timeoutMs: 30_000 })
    if (list.code !== 0 || manifest.code !== 0) { problems.push(`${p}: cannot read ${tgz}: ${list.out}${manifest.out}`); continue }
    if (manifest.out.includes('workspace:')) {
      problems.push(`${p}: the packed package.json still has a workspace: dependency:\n${manifest.out.split('\n').filter((l) => l.includes('workspace:')).join('\n')}`)
    }
    // Every file that main, types and the exports map point at (other than the source condition) is in the tarball.
    const files = new Set(list.out.split('\n').map((l) => l.trim().replace(/^package\//, '')))
    const json = JSON.parse(manifest.out) as { main?: string; types?: string; exports?: unknown }
    const targets: string[] = []
    if (json.main !== undefined) targets.push(json.main)
    if (json.types !== undefined) targets.push(json.types)
    const walk = (v: unknown, key: string): void => {
      if (typeof v === 'string') { if (key !== 'source') targets.push(v) }
      else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k)
    }
    walk(json.exports, '')
    if (json.exports !== null && typeof json.exports === 'object') {
      for (const key of Object.keys(json.exports)) {
        if (key.startsWith('./') && key !== './package.json' && !key.includes('*')) subpaths.push(`@strata/${p}/${key.slice(2)}`)
      }
    }
    for (const t of targets) {
      if (!t.includes('*') && !files.has(t.replace(/^\.\//, ''))) problems.push(`${p}: package.json points at ${t}, which is not in the tarball`)
    }
    if (json.main === undefined || json.types === undefined) problems.push(`${p}: package.json has no top-level main/types (node10 resolution finds nothing)`)
    // tsc -b never deletes the output of a removed source file; a tarball packed from this working
    // tree would publish it. Not a failure (a clean clone has none), but worth knowing.
    const hasSrc = [...files].some((f) => f.startsWith('src/'))
    const stale = !hasSrc ? [] : [...files].filter((f) => /^dist\/.*\.js$/.test(f) && !files.has(f.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')))
    const buildInfo = [...files].filter((f) => f.endsWith('.tsbuildinfo'))
    if (buildInfo.length > 0) console.log(`note: ${p}'s tarball carries tsc's build state (${buildInfo.join(', ')}), which a user has no use for`)
    if (stale.length > 0) console.log(`note: ${p}'s tarball has dist files with no source (stale build output; run tsc -b --clean before packing to publish): ${stale.join(', ')}`)
  }
  assert.ok(problems.length === 0, problems.join('\n\n'))
})

test('the tarballs install with plain npm into a fresh project, in one install', async () => {
  assert.ok(tarballs.size > 0, 'nothing was packed')
  const rootJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
  const typesNode = rootJson.devDependencies['@types/node']
  assert.type(typesNode, 'string')
  mkdirSync(consumer, { recursive: true })
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'strata-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2))
  const r = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...tarballs.values(), `@types/node@${typesNode}`], {
    cwd: consumer,
    timeoutMs: 400_000,
    // Native addons built by node-gyp (fs-ext) find Node's headers here, as in scripts/setup.sh.
    env: { npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr' },
  })
  timings.push(`npm install ${secs(r.ms)}`)
  assert.is(r.code, 0, report('npm install of the tarballs', r))
  // Every @strata package came from a tarball of this run, none from the registry.
  const lock = JSON.parse(readFileSync(join(consumer, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string }> }
  const fromRegistry = Object.entries(lock.packages)
    .filter(([path, info]) => path.includes('node_modules/@strata/') && !(info.resolved ?? '').startsWith('file:'))
    .map(([path, info]) => `${path} <- ${info.resolved}`)
  assert.equal(fromRegistry, [], `@strata packages installed from elsewhere than the tarballs:\n${fromRegistry.join('\n')}`)
  installed = true
})

// The consumer, written once; both type checks start together and share the install.
let checks: Promise<{ nodenext: Run; bundler: Run; entryPoints: Run }> | undefined
function typeCheck(): Promise<{ nodenext: Run; bundler: Run; entryPoints: Run }> {
  checks ??= (async () => {
    const pkgs = [...tarballs.keys()]
    writeFileSync(join(consumer, 'consumer.ts'), consumerSource(pkgs))
    writeFileSync(join(consumer, 'entry-points.ts'), entryPointsSource(subpaths.sort()))
    const common = { target: 'ES2022', lib: ['ES2023'], types: ['node'], strict: true, skipLibCheck: false, forceConsistentCasingInFileNames: true }
    writeFileSync(join(consumer, 'tsconfig.nodenext.json'), JSON.stringify({ compilerOptions: { ...common, module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'out' }, files: ['consumer.ts'] }, null, 2))
    writeFileSync(join(consumer, 'tsconfig.bundler.json'), JSON.stringify({ compilerOptions: { ...common, module: 'ESNext', moduleResolution: 'bundler', noEmit: true }, files: ['consumer.ts'] }, null, 2))
    const tsc = join(root, 'node_modules/typescript/bin/tsc')
    writeFileSync(join(consumer, 'tsconfig.entry-points.json'), JSON.stringify({ compilerOptions: { ...common, module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true }, files: ['entry-points.ts'] }, null, 2))
    const [nodenext, bundler, entryPoints] = await Promise.all([
      run(process.execPath, [tsc, '-p', 'tsconfig.nodenext.json', '--pretty', 'false'], { cwd: consumer, timeoutMs: 180_000 }),
      run(process.execPath, [tsc, '-p', 'tsconfig.bundler.json', '--pretty', 'false'], { cwd: consumer, timeoutMs: 180_000 }),
      run(process.execPath, [tsc, '-p', 'tsconfig.entry-points.json', '--pretty', 'false'], { cwd: consumer, timeoutMs: 180_000 }),
    ])
    timings.push(`type checks ${secs(Math.max(nodenext.ms, bundler.ms, entryPoints.ms))}`)
    return { nodenext, bundler, entryPoints }
  })()
  return checks
}

test('a consumer type-checks under moduleResolution NodeNext, strict, skipLibCheck false', async () => {
  assert.ok(installed, 'not installed (see above)')
  const { nodenext } = await typeCheck()
  assert.is(nodenext.code, 0, report('tsc (NodeNext) in the consumer project', nodenext))
})

test('a consumer type-checks under moduleResolution bundler, strict, skipLibCheck false', async () => {
  assert.ok(installed, 'not installed (see above)')
  const { bundler } = await typeCheck()
  assert.is(bundler.code, 0, report('tsc (bundler) in the consumer project', bundler))
})

test('the other entry points (./internal) type-check: no error in a Strata declaration file', async () => {
  assert.ok(installed, 'not installed (see above)')
  const { entryPoints } = await typeCheck()
  const lines = entryPoints.out.split('\n').filter((l) => /error TS\d+/.test(l))
  const thirdParty = lines.filter((l) => /^node_modules\/(?!@strata\/)/.test(l))
  if (thirdParty.length > 0) console.log(`note: a third-party package's declarations fail with skipLibCheck false when reached through an ./internal entry:\n${thirdParty.join('\n')}`)
  const own = lines.filter((l) => !thirdParty.includes(l))
  assert.ok(entryPoints.code === 0 || (lines.length > 0 && own.length === 0), report(`tsc (NodeNext) over ${subpaths.join(', ')}`, { ...entryPoints, out: own.join('\n') || entryPoints.out }))
})

test('the consumer runs: imports every package, does one real thing with each, exits 0', async () => {
  assert.ok(installed, 'not installed (see above)')
  await typeCheck()
  const js = join(consumer, 'out/consumer.js')
  assert.ok(existsSync(js), 'tsc emitted no out/consumer.js (see the NodeNext type check)')
  // 60 s: a package that keeps the process alive after its work (a timer, a thread) fails here.
  const r = await run(process.execPath, [js], { cwd: consumer, timeoutMs: 60_000 })
  timings.push(`consumer run ${secs(r.ms)}`)
  assert.is(r.code, 0, report('node out/consumer.js', r))
})

test('without fs-ext (a native addon) every package still imports, and only the lock fails, with a typed error', async () => {
  assert.ok(installed, 'not installed (see above)')
  await typeCheck() // the run above is done with node_modules; this test removes fs-ext from it
  const fsExt = join(consumer, 'node_modules/fs-ext')
  if (existsSync(fsExt)) renameSync(fsExt, `${fsExt}.removed`)
  const script = [
    `let broken = 0`,
    ...[...tarballs.keys()].map((p) => `try { await import('@strata/${p}') } catch (e) { broken++; console.error('@strata/${p} does not import without fs-ext:', e) }`),
    `const { StrataError, nodeFileSystem } = await import('@strata/seams')`,
    `const dir = (await import('node:fs')).mkdtempSync((await import('node:path')).join((await import('node:os')).tmpdir(), 'strata-nofsext-'))`,
    `let err`,
    `try { await (await nodeFileSystem.lock(dir + '/LOCK')).release() } catch (e) { err = e }`,
    `(await import('node:fs')).rmSync(dir, { recursive: true, force: true })`,
    `if (!(err instanceof StrataError) || !String(err.code).startsWith('ERR_SEAMS_') || !/fs-ext/.test(err.message)) {`,
    `  console.error('lock without fs-ext: expected a StrataError with an ERR_SEAMS_ code that names fs-ext, got:', err); process.exit(1)`,
    `}`,
    `console.log('lock without fs-ext fails with', err.code)`,
    `if (broken > 0) process.exit(1)`,
  ].join('\n')
  writeFileSync(join(consumer, 'no-fs-ext.mjs'), script)
  const r = await run(process.execPath, ['no-fs-ext.mjs'], { cwd: consumer, timeoutMs: 60_000 })
  assert.is(r.code, 0, report('node no-fs-ext.mjs (fs-ext removed from node_modules)', r))
})

test.after(() => {
  console.log(`pack test timings: ${timings.join(', ')}`)
  if (process.env.STRATA_PACK_KEEP === '1') console.log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
})

test.run()
