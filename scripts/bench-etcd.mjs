#!/usr/bin/env node
// `pnpm bench:etcd` / `npm run bench:etcd` (after `bash scripts/setup.sh --build`): Strata's
// `strata serve` beside Debian's etcd 3.4.23, the same load on the same machine in the same hour
// (issue 15). Installs etcd and etcdctl 3.4 with apt-get when missing (scripts/install-etcd.sh
// --server), then runs packages/server/bench/vs-etcd.ts, which starts both servers, drives them
// with `strata bench`'s client and prints a table and `RESULT server.vs_etcd.*` lines.
// Env: BENCH_QUICK=1 (tiny sizes, the smoke test), BENCH_ETCD_KEYS, BENCH_ETCD_RUNS,
// BENCH_ETCD_PROFILE=1 (where strata serve's CPU goes in each row that misses its goal),
// BENCH_ETCD_ROWS=put16,put256,... (a subset of the rows; see vs-etcd.ts).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const install = spawnSync('bash', [join(root, 'scripts/install-etcd.sh'), '--server'], { stdio: ['ignore', 'inherit', 'inherit'] })
if (install.status !== 0) {
  console.error('bench:etcd: etcd 3.4 (Debian etcd-server) and etcdctl are needed and could not be installed (see above); nothing was measured')
  process.exit(1)
}
if (!existsSync(join(root, 'packages/server/dist/bundle/bin.js'))) {
  console.error('bench:etcd: packages/server is not built (dist/bundle/bin.js is missing): run bash scripts/setup.sh --build first')
  process.exit(1)
}
const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(root, 'packages/server/bench/vs-etcd.ts')], { cwd: root, stdio: 'inherit' })
const forward = (signal) => child.kill(signal)
process.on('SIGINT', forward)
process.on('SIGTERM', forward)
child.on('close', (code, signal) => {
  if (signal !== null) console.error(`bench:etcd: the bench was stopped by ${signal}`)
  process.exitCode = code ?? 1
})
