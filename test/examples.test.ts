// The examples cannot rot: each `examples/<x>/main.ts` is run as `npm start` runs the main one
// (`node --conditions=source --import tsx examples/<x>/main.ts <dir>`, from the repository
// root, with a fresh temporary directory), must exit 0 on its own within 60 s and print the
// lines that show it did what its README says. embedded-kv and wal-demo run twice on the same
// directory: the second run must find the first run's data.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const root = fileURLToPath(new URL('..', import.meta.url))
const TIMEOUT_MS = 60_000
const base = mkdtempSync(join(tmpdir(), 'strata-examples-test-'))

interface Run { code: number | string; stdout: string; stderr: string; ms: number }

function runExample(name: string, dir: string, extra: readonly string[] = []): Promise<Run> {
  const t0 = performance.now()
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', `examples/${name}/main.ts`, dir, ...extra], {
      cwd: root, env: { ...process.env, FORCE_COLOR: '0' },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, TIMEOUT_MS)
    child.on('error', (err) => { stderr += `\n${err.message}` })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      done({ code: timedOut ? `timeout: still running after ${TIMEOUT_MS / 1000} s` : (code ?? String(signal)), stdout, stderr, ms: performance.now() - t0 })
    })
  })
}

function expectOk(name: string, r: Run, lines: readonly RegExp[]): void {
  const shown = `${name} (${(r.ms / 1000).toFixed(1)} s), stdout:\n${r.stdout}\nstderr:\n${r.stderr}`
  assert.is(r.code, 0, `exit ${r.code}: ${shown}`)
  for (const line of lines) assert.match(r.stdout, line, `no line matching ${line}: ${shown}`)
}

// Start every example at once (they use separate directories); each test awaits its own.
const kvDir = join(base, 'embedded-kv')
const kvRuns = runExample('embedded-kv', kvDir).then(async (first) => ({ first, second: await runExample('embedded-kv', kvDir) }))
const leases = runExample('leases-and-watch', join(base, 'leases-and-watch'))
const cluster = runExample('three-members', join(base, 'three-members'))
const processes = runExample('cluster', join(base, 'cluster'))
const walDir = join(base, 'wal-demo')
const walRuns = runExample('wal-demo', walDir).then(async (first) => ({ first, second: await runExample('wal-demo', walDir) }))

test('embedded-kv: the HTTP service answers its own requests, streams events, and keeps its keys across runs', async () => {
  const { first, second } = await kvRuns
  expectOk('embedded-kv, first run', first, [
    /^store: .*\(revision 1\), 0 keys already present$/m,
    /^listening on http:\/\/127\.0\.0\.1:\d+/m,
    /PUT {4}\/kv\/demo\/greeting "hello" -> 200 \{"revision":\d+\}/,
    /GET {4}\/kv\/demo\/greeting -> 200 hello \(mod revision \d+\)/,
    /GET {4}\/kv\/\?prefix=demo\/ -> 200 \{"revision":\d+,"kvs":\[\{"key":"demo\/color","value":"blue"/,
    /^ {2}event: put \{"key":"demo\/color","value":"green"/m,
    /^ {2}event: delete \{"key":"demo\/scratch"/m,
    /^this was run #1 on this directory; the events stream saw put, put, delete$/m,
    /^closed the server and the store/m,
  ])
  expectOk('embedded-kv, second run', second, [
    /^store: .*, 3 keys already present$/m,
    /GET {4}\/kv\/demo\/runs -> 200 1 /,
    /^this was run #2 on this directory/m,
    /^closed the server and the store/m,
  ])
})

test('leases-and-watch: joins, a leave by expiry after the keep-alive stops, a leave by revoke', async () => {
  const r = await leases
  expectOk('leases-and-watch', r, [
    /watch: JOIN services\/api\/1 -> 10\.0\.0\.1:8080/,
    /watch: JOIN services\/api\/2 -> 10\.0\.0\.2:8080/,
    /still registered: services\/api\/1, services\/api\/2/,
    /services\/api\/2 expired [\d.]+ s after its last renewal .*nobody deleted it/,
    /registered now: services\/api\/1; leases: 1/,
    /services\/api\/1 deregistered \(lease revoked\); 2 joins, 2 leaves seen/,
    /closed the watch and the store/,
  ])
  // The expiry comes after the keep-alive stopped, and not before the TTL could run out.
  const stop = r.stdout.indexOf('services/api/2 stops renewing')
  const leave = r.stdout.indexOf('watch: LEAVE services/api/2')
  assert.ok(stop !== -1 && leave > stop, `the leave of api/2 must follow its stop:\n${r.stdout}`)
  const after = Number(/expired ([\d.]+) s after its last renewal/.exec(r.stdout)?.[1])
  assert.ok(after >= 1.5 && after < 5, `api/2 expired ${after} s after its last renewal; the TTL is 2 s:\n${r.stdout}`)
})

test('three-members: a leader is killed and replaced; the old leader reopens and catches up', async () => {
  const r = await cluster
  expectOk('three-members', r, [
    /members 1, 2, 3 open in .*; leader: member [123] \(term \d+\)/,
    /closed member [123] \(the leader\); survivors: [123], [123]/,
    /survivors elected member [123]/,
    /put orders\/6 through member [123] -> revision 7/,
    /reopened member [123]/,
    /caught up: the same revision and hashKV on all three/,
    /closed all three members/,
  ])
  const states = [...r.stdout.matchAll(/member \d( \(leader\))?: revision (\d+), (\d+) keys under orders\/, hashKV\(\d+\) = (\w+)/g)]
  assert.is(states.length, 3, r.stdout)
  assert.equal(new Set(states.map((m) => `${m[2]} ${m[3]} ${m[4]}`)).size, 1, `the members differ:\n${r.stdout}`)
  assert.is(states[0]?.[3], '6')
})

test('cluster: three strata serve processes driven by etcdctl lose their leader to SIGKILL, keep writing, and converge after its restart', async () => {
  const r = await processes
  expectOk('cluster', r, [
    /^started m1, m2, m3 .*; leader: m[123]$/m,
    /^put greeting through m1, got it through m3: hello from m1$/m,
    /^killed the leader (m[123]) with SIGKILL/m,
    /^survivors elected m[123]$/m,
    /^wrote orders\/1\.\.5 through the survivors while m[123] was down; 5 keys under orders\/$/m,
    /^m[123] reads orders\/5 = order #5$/m,
    /^caught up: revision \d+ and hashKV \d+ on all three$/m,
    /^stopped all three members \(SIGTERM\)$/m,
  ])
})

test('wal-demo: a write-ahead log created, then reopened and continued', async () => {
  const { first, second } = await walRuns
  expectOk('wal-demo, first run', first, [/metadata "wal-demo v1"/, /entry 3 \(term 1\): hello #3/])
  expectOk('wal-demo, second run', second, [/entry 1 \(term 1\): hello #1/, /entry 6 \(term 1\): hello #6/])
})

test.after(() => rmSync(base, { recursive: true, force: true }))
test.run()
