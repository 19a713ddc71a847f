// README.md's API section and src/index.ts say the same thing (CONTRIBUTING.md: the index
// exports what the API table lists, and nothing else). The quick start itself is run by the
// root test/readme-quickstarts.test.ts.
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as api from '../src/index.js'
import { Lessor } from '../src/index.js'

const read = (file: string): string => readFileSync(new URL(file, import.meta.url), 'utf8')
const readme = read('../README.md')
const apiSection = readme.slice(readme.indexOf('\n## API'), readme.indexOf('\n## Guarantees'))
const mentioned = (name: string): boolean => apiSection.includes(`\`${name}`)

/** Every name `export { ... }` / `export type { ... }` in src/index.ts. */
function indexExports(): string[] {
  const names: string[] = []
  for (const m of read('../src/index.ts').matchAll(/^export (?:type )?\{([^}]*)\}/gm)) names.push(...m[1]!.split(',').map((s) => s.trim()).filter(Boolean))
  return names.sort()
}

test('the index exports only values the API section names', () => {
  assert.equal(Object.keys(api).sort(), ['LeaseError', 'Lessor', 'MAX_LEASE_ID', 'NO_LEASE', 'newLeaseId'])
  for (const name of indexExports()) assert.ok(mentioned(name), `${name} is exported but not in README's API section`)
})

test('every public Lessor method is in the API table', () => {
  const methods = Object.getOwnPropertyNames(Lessor.prototype).filter((n) => n !== 'constructor')
  for (const name of [...methods, 'open']) assert.ok(mentioned(name), `Lessor.${name} is missing from the API table`)
})

test('every error code is in the README errors table, and the table names no other', () => {
  const declared = [...read('../src/errors.ts').matchAll(/\| '(ERR_[A-Z_]+)'/g)].map((m) => m[1]!).sort()
  const table = readme.slice(readme.indexOf('### Errors'), readme.indexOf('\n## Guarantees'))
  const listed = [...table.matchAll(/^\| `(ERR_[A-Z_]+)`/gm)].map((m) => m[1]!).sort()
  assert.is(declared.length, 11)
  assert.equal(listed, declared)
  for (const code of declared) assert.ok(code.startsWith('ERR_LEASE_'), code)
})

test('every option is in the options table', () => {
  const declared = [...read('../src/lessor-options.ts').slice(0, read('../src/lessor-options.ts').indexOf('ResolvedLessorOptions')).matchAll(/^ {2}readonly (\w+)\?:/gm)].map((m) => m[1]!).sort()
  const table = readme.slice(readme.indexOf('### Options'), readme.indexOf('### Errors'))
  const listed = [...table.matchAll(/^\| `(\w+)`/gm)].map((m) => m[1]!).sort()
  assert.is(declared.length, 11)
  assert.equal(listed, declared)
})

test('the README links only to files that exist in the repository', () => {
  for (const m of readme.matchAll(/\]\(([^)]+)\)/g)) {
    const target = m[1]!
    assert.ok(!/^[a-z]+:/.test(target), `external link ${target}`)
    assert.ok(readFileSync(new URL(`../${target}`, import.meta.url)).length > 0, target)
  }
})

test.run()
