import { copyFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { argInt, argValue, findArg, parseCommandLine, parseDataDriven, registerDataDriven, runDataDriven, tempDir } from '../src/index.js'
import type { DataDrivenHandler } from '../src/index.js'

const dir = join(import.meta.dirname, 'testdata', 'data-driven')

/** The handler behind testdata/data-driven/kv.txt: a map and a few commands. */
function kvHandler(): DataDrivenHandler {
  const kv = new Map<string, number>()
  return (td) => {
    switch (td.cmd) {
      case 'put':
        kv.set(argValue(td, 'k'), argInt(td, 'v'))
        return 'ok'
      case 'get':
        return kv.has(argValue(td, 'k')) ? String(kv.get(argValue(td, 'k'))) : ''
      case 'sum': {
        const keys = findArg(td, 'keys') ?? []
        assert.equal(findArg(td, 'verbose'), [])
        return `${keys.join('+')}=${keys.reduce((s, k) => s + (kv.get(k) ?? 0), 0)}`
      }
      case 'echo':
        return td.input
      case 'dump':
        return [...kv].map(([k, v]) => `${k}=${v}`).join('\n\n')
      default:
        throw new Error(`unknown command ${td.cmd}`)
    }
  }
}

registerDataDriven(test, dir, kvHandler)

test('command lines split into the command, bare words, values and lists', () => {
  assert.equal(parseCommandLine('add-nodes 3 voters=(1, 2,3) learners=() index=10 x=(a b)'), {
    cmd: 'add-nodes',
    args: [
      { key: '3', values: [] },
      { key: 'voters', values: ['1', '2', '3'] },
      { key: 'learners', values: [] },
      { key: 'index', values: ['10'] },
      { key: 'x', values: ['a b'] },
    ],
  })
})

test('cases record their command line, input, expected output and position', async () => {
  const path = join(dir, 'kv.txt')
  const cases = parseDataDriven(await readFile(path, 'utf8'), path)
  assert.equal(cases.map((c) => c.data.cmd), ['put', 'put', 'sum', 'echo', 'dump', 'get'])
  assert.is(cases[0]!.data.pos, `${path}:3`)
  assert.is(cases[3]!.data.input, 'line one\nline two')
  assert.is(cases[4]!.expected, 'a=1\n\nb=2\n')
  assert.is(cases[5]!.expected, '')
  const joined = parseDataDriven('cmd a=1 \\\n  b=2\n----\nx\n', 'f')
  assert.equal(joined[0]!.data.args, [{ key: 'a', values: ['1'] }, { key: 'b', values: ['2'] }])
})

test('malformed files are refused with the line', () => {
  assert.throws(() => parseDataDriven('cmd\ninput\n', 'f.txt'), /f.txt:1: case has no ---- separator/)
  assert.throws(() => parseDataDriven('cmd\n----\n----\nx\n', 'f.txt'), /f.txt:3: .* never closed/)
})

test('a differing output fails with file:line and both texts', async () => {
  const t = await tempDir('testkit-dd-')
  try {
    const path = join(t.path, 'case.txt')
    await writeFile(path, 'put k=a v=1\n----\nok\n\nget k=a\n----\n2\n')
    let message = ''
    try {
      await runDataDriven(path, kvHandler())
    } catch (err) {
      message = (err as Error).message
    }
    assert.match(message, `${path}:5: output of get differs`)
    assert.match(message, '--- expected:\n2\n--- actual:\n1\n---')
  } finally {
    await t.cleanup()
  }
})

test('a throwing handler is reported with the case position', async () => {
  const t = await tempDir('testkit-dd-')
  try {
    const path = join(t.path, 'case.txt')
    await writeFile(path, '\nnope\n----\n')
    let message = ''
    await runDataDriven(path, kvHandler()).catch((err: Error) => { message = err.message })
    assert.match(message, `${path}:2: nope threw: unknown command nope`)
  } finally {
    await t.cleanup()
  }
})

test('REWRITE=1 regenerates every output, keeping comments and choosing the separator form', async () => {
  const t = await tempDir('testkit-dd-')
  const saved = process.env['REWRITE']
  try {
    const golden = await readFile(join(dir, 'kv.txt'), 'utf8')
    const stale = golden.replace('a+b=3', 'wrong').replace('----\n----\na=1\n\nb=2\n----\n----', '----\nold').replace('line one\nline two\n\n', 'x\n\n')
    assert.is.not(stale, golden)
    const path = join(t.path, 'kv.txt')
    await writeFile(path, stale)
    process.env['REWRITE'] = '1'
    await runDataDriven(path, kvHandler())
    assert.is(await readFile(path, 'utf8'), golden)
    await copyFile(join(dir, 'kv.txt'), path)
    await runDataDriven(path, kvHandler())
    assert.is(await readFile(path, 'utf8'), golden)
  } finally {
    if (saved === undefined) delete process.env['REWRITE']
    else process.env['REWRITE'] = saved
    await t.cleanup()
  }
})

test.run()
