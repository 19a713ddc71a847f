// For programs that start `strata serve` processes (examples/cluster, the benches, the CLI
// tests): a free port to give a member, and the node arguments that run the `strata` command.
// A subpath of its own (`@strata/server/spawn`), so a driver that only spawns members loads
// none of the server.
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

/**
 * A port nothing listens on right now on `host` (the OS picks it; it is released for the caller
 * to hand to a process, which may in rare cases lose a race for it to another process).
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

const BUNDLE_MAIN = fileURLToPath(new URL('../dist/bundle/bin.js', import.meta.url))
const BUILT_MAIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url))
const BIN = fileURLToPath(new URL('../bin/strata', import.meta.url))
const SOURCE_MAIN = fileURLToPath(new URL('../src/cli/bin.ts', import.meta.url))

/**
 * The arguments to `node` (process.execPath) that run the `strata` command: the package's bin
 * (the bundle `scripts/setup.sh --build` makes), else the modules `tsc -b` compiled, else — or
 * with `fromSource` — the sources through tsx (several seconds slower to start).
 */
export function strataCommand(options: { readonly fromSource?: boolean } = {}): string[] {
  if (options.fromSource === true) return ['--conditions=source', '--import', 'tsx', SOURCE_MAIN]
  if (existsSync(BUNDLE_MAIN)) return [BIN]
  return existsSync(BUILT_MAIN) ? [BUILT_MAIN] : ['--conditions=source', '--import', 'tsx', SOURCE_MAIN]
}
