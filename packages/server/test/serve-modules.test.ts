import { spawnSync } from 'node:child_process'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

// What `strata serve` loads decides how soon a restarted member answers (issue 15): the lean
// HTTP/2 server, the metrics and the leader forwarder must not pull in the libraries that only
// grpc-js serving, a forwarded lease call or a /metrics scrape need.
const HEAVY = /[\\/]node_modules[\\/](@grpc[\\/]grpc-js|@grpc[\\/]proto-loader|protobufjs|prom-client)[\\/]/

/** The CommonJS modules (every one of these libraries is CommonJS) loaded after importing `modules` from src/. */
function loadedAfter(modules: readonly string[]): string[] {
  const urls = modules.map((m) => new URL(`../src/${m}`, import.meta.url).href)
  const code = `for (const u of ${JSON.stringify(urls)}) await import(u)
const { createRequire } = await import('node:module')
console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)))`
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' })
  assert.is(r.status, 0, r.stderr)
  return JSON.parse(r.stdout) as string[]
}

test('serve, the lean server, the metrics and the forwarder load neither grpc-js, proto-loader, protobufjs nor prom-client', () => {
  const heavy = loadedAfter(['cli/main.ts', 'cli/serve.ts', 'h2/server.ts', 'metrics.ts', 'forwarder.ts', 'http-status.ts']).filter((p) => HEAVY.test(p))
  assert.equal(heavy, [])
})

test('the check sees them where they are used: the grpc-js server loads grpc-js', () => {
  assert.ok(loadedAfter(['grpc-server.ts']).some((p) => HEAVY.test(p)))
})

test.run()
