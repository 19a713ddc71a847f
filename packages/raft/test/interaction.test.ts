import { join } from 'node:path'
import { test } from 'uvu'
import { registerDataDriven } from '@strata/testkit'
import { InteractionEnv } from './harness/interaction-env.js'

// Every file of testdata/ is one scenario in etcd's data-driven format, run against a fresh
// InteractionEnv; REWRITE=1 regenerates the expected outputs (review the diff).
registerDataDriven(test, join(import.meta.dirname, 'testdata'), () => {
  const env = new InteractionEnv()
  return (td) => env.handle(td)
})

test.run()
