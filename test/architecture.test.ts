import { test } from 'uvu'
import * as assert from 'uvu/assert'
// @ts-expect-error: a plain .mjs script without type declarations
import { checkDeps, findCycle, importsOf } from '../scripts/check-deps.mjs'

test('every import follows the dependency arrows of DESIGN.md, with no cycle', () => {
  const problems = checkDeps() as string[]
  assert.equal(problems, [], problems.join('\n'))
})

test('the import scanner sees value, type-only and dynamic imports', () => {
  const found = importsOf(`import { a } from './a.js'\nimport type { B } from '@strata/backend'\nexport { c } from "./c.js"\nconst m = await import('lmdb')\n`) as { spec: string; typeOnly: boolean }[]
  assert.equal(found, [
    { spec: './a.js', typeOnly: false },
    { spec: '@strata/backend', typeOnly: true },
    { spec: './c.js', typeOnly: false },
    { spec: 'lmdb', typeOnly: false },
  ])
})

test('a cycle between modules is found and named', () => {
  const graph = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', []]])
  assert.equal(findCycle(graph), ['a', 'b', 'c', 'a'])
  assert.equal(findCycle(new Map([['a', ['b']], ['b', []]])), undefined)
})

test.run()
