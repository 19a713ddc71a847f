#!/usr/bin/env node
// Bundles the `strata` command (dist/cli/bin.js, after `tsc -b`) into dist/bundle/, which
// bin/strata runs: one module per chunk instead of ~200 files each resolved, read and linked
// by Node's ESM loader. A restart spends that loading before it can read its data (a 1M-key
// restart's index scan waits for the store's modules), and a small store's start is mostly
// loading (BENCHMARKS.md). Imports the server loads on demand (`--grpc-js`, /metrics, the
// client commands) stay chunks of their own, loaded when used.
//
// Left outside, loaded by Node from node_modules as without a bundle: native addons and the
// packages whose path a worker thread or a lazy require resolves (lmdb for the scan and
// defragment threads, @node-rs/bcrypt for auth's hash workers, fs-ext for file locks), which
// this package depends on directly so that they resolve from dist/bundle/; and the CommonJS
// libraries serve imports only on demand (grpc-js, proto-loader, prom-client), whose named
// exports a bundle's import() would otherwise see differently.
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const pkg = fileURLToPath(new URL('..', import.meta.url))
const outdir = `${pkg}dist/bundle`
rmSync(outdir, { recursive: true, force: true })
await build({
  entryPoints: [`${pkg}dist/cli/bin.js`],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['lmdb', 'fs-ext', '@node-rs/bcrypt', '@grpc/grpc-js', '@grpc/proto-loader', 'prom-client'],
  logLevel: 'warning',
})
