// The consumer project of test/pack.test.ts: a TypeScript file written as a user outside this
// repository would write it, against the installed tarballs. pack.test.ts type-checks it under
// NodeNext and bundler resolution (skipLibCheck false) and runs what tsc emits for NodeNext.
//
// It is kept as text (not a .ts file of its own) because `@strata/*` does not resolve from the
// repository root, where tsconfig.tests.json would type-check it. When a package's public API
// changes, change the section of that package here: one real call per package, nothing more.

/**
 * One `step(...)` per package a user imports. Each step imports what it uses itself (a dynamic
 * import), so a package that fails to load fails its own step and no other; a failing step
 * prints its error and the run exits 1.
 */
const sections: Record<string, string> = {
  seams: `
await step('seams: nodeFileSystem writes, reads back and locks a file; systemClock ticks', async () => {
  const { StrataError, nodeFileSystem, systemClock } = await import('@strata/seams')
  await nodeFileSystem.writeFile(join(dir, 'seams.txt'), enc('hello'))
  assert.equal(dec(await nodeFileSystem.readFile(join(dir, 'seams.txt'))), 'hello')
  const lock = await nodeFileSystem.lock(join(dir, 'seams.LOCK'))
  await lock.release()
  assert.equal(typeof systemClock.now(), 'number')
  assert.ok(new StrataError('ERR_SEAMS_TEST', 'a test error', {}) instanceof Error)
})`,
  wal: `
await step('wal: create, save two entries, reopen and read them back', async () => {
  const { Wal } = await import('@strata/wal')
  const { EntryType } = await import('@strata/raft')
  const walDir = join(dir, 'wal')
  const wal = await Wal.create(walDir, enc('consumer'))
  await wal.save({ term: 1, vote: 1, commit: 0 }, [
    { index: 1, term: 1, type: EntryType.Normal, data: enc('put a=1') },
    { index: 2, term: 1, type: EntryType.Normal, data: enc('put b=2') },
  ])
  await wal.close()
  const again = await Wal.open(walDir, { index: 0, term: 0 })
  const { metadata, entries } = await again.readAll()
  await again.close()
  assert.equal(dec(metadata), 'consumer')
  assert.deepEqual(entries.map((e) => dec(e.data)), ['put a=1', 'put b=2'])
})`,
  raft: `
await step('raft: a single-member RawNode campaigns and becomes leader', async () => {
  const { MemoryStorage, RawNode, StateType } = await import('@strata/raft')
  const storage = new MemoryStorage()
  storage.applySnapshot({
    data: new Uint8Array(0),
    metadata: { index: 1, term: 1, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
  })
  const node = new RawNode({ id: 1, storage })
  node.campaign()
  for (let round = 0; round < 10 && node.hasReady(); round++) {
    const rd = node.ready()
    storage.append(rd.entries)
    if (rd.hardState !== undefined) storage.setHardState(rd.hardState)
    node.advance()
  }
  assert.equal(node.state, StateType.Leader)
})`,
  backend: `
await step('backend: LmdbBackend (native lmdb) writes, commits durably and reads back', async () => {
  const { LmdbBackend } = await import('@strata/backend')
  const db = await LmdbBackend.open(join(dir, 'lmdb'))
  db.write((tx) => tx.put('key', enc('k1'), enc('v1')))
  await db.commit()
  const got = db.read((tx) => tx.get('key', enc('k1')))
  await db.close()
  assert.equal(got === undefined ? undefined : dec(got), 'v1')
})`,
  mvcc: `
await step('mvcc: MvccStore over MemoryBackend puts and ranges', async () => {
  const { MemoryBackend } = await import('@strata/backend')
  const { MvccStore } = await import('@strata/mvcc')
  const backend = new MemoryBackend()
  const store = await MvccStore.open(backend)
  store.put('app/a', '1')
  store.put('app/b', '2')
  const r = store.range('app/', 'app0')
  assert.deepEqual(r.kvs.map((kv) => dec(kv.value)), ['1', '2'])
  await store.close()
  await backend.close()
})`,
  lease: `
await step('lease: a Lessor grants a lease and looks it up', async () => {
  const { MemoryBackend } = await import('@strata/backend')
  const { Lessor } = await import('@strata/lease')
  const backend = new MemoryBackend()
  const lessor = await Lessor.open(backend)
  backend.write((tx) => { lessor.grant(42, 10, { tx }) })
  assert.equal(lessor.lookup(42)?.id, 42)
  await lessor.close()
  await backend.close()
})`,
  auth: `
await step('auth: an AuthStore adds root with a bcrypt hash, enables auth and authenticates', async () => {
  const { MemoryBackend } = await import('@strata/backend')
  const { AuthStore } = await import('@strata/auth')
  const backend = new MemoryBackend()
  const auth = await AuthStore.open(backend)
  const hash = await auth.hashPassword('s3cret')
  backend.write((tx) => {
    auth.userAdd({ name: 'root', hashedPassword: hash }, { tx })
    auth.userGrantRole({ user: 'root', role: 'root' }, { tx })
    auth.authEnable({ tx })
  })
  const token = await auth.authenticate('root', 's3cret')
  assert.equal(auth.authInfoFromToken(token).username, 'root')
  await auth.close()
  await backend.close()
})`,
}

/**
 * The consumer's source for the packed packages `packages` (directory names). A package with no
 * section above (apply, embed, ... once they export something) is still imported, so its
 * tarball must at least load and type-check.
 */
export function consumerSource(packages: readonly string[]): string {
  const lines = [
    `import * as assert from 'node:assert/strict'`,
    `import { mkdtempSync, rmSync } from 'node:fs'`,
    `import { tmpdir } from 'node:os'`,
    `import { join } from 'node:path'`,
  ]
  lines.push(`
const dir = mkdtempSync(join(tmpdir(), 'strata-consumer-'))
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)
let failed = 0
async function step(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
    console.log(\`ok   \${name}\`)
  } catch (err) {
    failed++
    console.error(\`FAIL \${name}\\n\${err instanceof Error ? (err.stack ?? err.message) : String(err)}\`)
  }
}
`)
  for (const p of packages) {
    const section = sections[p]
    if (section !== undefined) lines.push(section)
    else lines.push(`await step('${p}: imports', async () => { console.log('     exports', Object.keys(await import('@strata/${p}')).join(', ')) })`)
  }
  lines.push(`
rmSync(dir, { recursive: true, force: true })
console.log(failed === 0 ? 'consumer: every step passed' : \`consumer: \${failed} step(s) failed\`)
process.exitCode = failed === 0 ? 0 : 1
`)
  return lines.join('\n')
}

/**
 * A file that imports the packages' other entry points (`@strata/mvcc/internal`, ...) for their
 * types only, so that their declarations are checked too: skipLibCheck false checks only the
 * declaration files a program reaches.
 */
export function entryPointsSource(subpaths: readonly string[]): string {
  return [...subpaths.map((spec, i) => `import type * as entry${i} from '${spec}'`), 'export {}', ''].join('\n')
}
