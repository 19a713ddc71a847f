// The main example until @strata/wal lands its own demo: take the data directory's lock,
// write a file durably (write, fsync, rename, fsync the directory), read it back.
import { join } from 'node:path'
import { nodeFileSystem as fs } from '@strata/seams'

const dir = process.argv[2] ?? join(process.cwd(), '.demo-data')
await fs.mkdir(dir)
const lock = await fs.lock(join(dir, 'LOCK'))
try {
  const tmp = join(dir, 'hello.tmp')
  const file = await fs.open(tmp, 'create')
  await file.truncate(0)
  await file.write(new TextEncoder().encode(`hello from strata\n`), 0)
  await file.sync()
  await file.close()
  await fs.rename(tmp, join(dir, 'hello'))
  await fs.fsyncDir(dir)
  process.stdout.write(`${dir}/hello: ${new TextDecoder().decode(await fs.readFile(join(dir, 'hello')))}`)
} finally {
  await lock.release()
}
