import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { runDataDrivenFile } from './harness/datadriven.js'
import { InteractionEnv } from './harness/interaction-env.js'

const dir = join(import.meta.dirname, 'testdata')

for (const file of readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
  test(`interaction script ${file} produces its recorded output`, () => {
    const env = new InteractionEnv()
    const failures = runDataDrivenFile(join(dir, file), (tc) => env.handle(tc))
    assert.ok(failures.length === 0, failures.join('\n\n'))
  })
}

test.run()
