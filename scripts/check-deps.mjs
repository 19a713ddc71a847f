#!/usr/bin/env node
// The dependency arrows of DESIGN.md, checked: which @strata packages each package may import,
// that production code never imports testkit, that every external import is declared in the
// package's package.json, that no relative import leaves its package, and that there is no
// import cycle (between packages, or between the files of one package's src/).
// Prints each violation; exits 1 when there is one. Also used by test/architecture.test.ts.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'

/** What each package's src/ may import from the repo. Everything else is a violation. */
export const ALLOWED = {
  seams: [],
  raft: ['seams'],
  wal: ['seams', 'raft'],
  backend: ['seams'],
  mvcc: ['backend', 'seams'],
  lease: ['backend', 'seams'],
  auth: ['backend', 'seams'],
  apply: ['seams', 'raft', 'backend', 'mvcc', 'lease', 'auth'],
  embed: ['seams', 'wal', 'raft', 'backend', 'mvcc', 'lease', 'auth', 'apply'],
  server: ['embed', 'seams', 'wal', 'backend'],
  testkit: ['seams'],
  sim: ['seams', 'raft', 'backend', 'embed', 'testkit'],
}

const root = resolve(dirname(new URL(import.meta.url).pathname), '..')
const builtins = new Set(builtinModules)

function walk(dir) {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? walk(p) : /\.(ts|mts)$/.test(n) && !n.endsWith('.d.ts') ? [p] : []
  })
}

/** The module specifiers a file imports, with whether the import is type-only. */
export function importsOf(source) {
  const found = []
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g
  for (const m of source.matchAll(re)) {
    if (m[4]) found.push({ spec: m[4], typeOnly: false })
    else if (m[1] === 'import' || /\sfrom\s/.test(m[0])) found.push({ spec: m[3], typeOnly: Boolean(m[2]) })
  }
  return found
}

export function findCycle(graph) {
  const state = new Map() // 1 visiting, 2 done
  const stack = []
  const visit = (n) => {
    if (state.get(n) === 2) return undefined
    if (state.get(n) === 1) return [...stack.slice(stack.indexOf(n)), n]
    state.set(n, 1)
    stack.push(n)
    for (const m of graph.get(n) ?? []) {
      const c = visit(m)
      if (c) return c
    }
    stack.pop()
    state.set(n, 2)
    return undefined
  }
  for (const n of graph.keys()) {
    const c = visit(n)
    if (c) return c
  }
  return undefined
}

export function checkDeps() {
  const problems = []
  const pkgGraph = new Map()
  for (const pkg of readdirSync(join(root, 'packages')).sort()) {
    const dir = join(root, 'packages', pkg)
    if (!existsSync(join(dir, 'package.json'))) continue
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    const deps = new Set(Object.keys(manifest.dependencies ?? {}))
    const devDeps = new Set([...deps, ...Object.keys(manifest.devDependencies ?? {})])
    const allowed = ALLOWED[pkg]
    if (!allowed) { problems.push(`packages/${pkg}: not in the dependency map of scripts/check-deps.mjs`); continue }
    pkgGraph.set(pkg, [...deps].filter((d) => d.startsWith('@strata/')).map((d) => d.slice(8)))
    for (const d of deps) if (d.startsWith('@strata/') && !allowed.includes(d.slice(8))) problems.push(`packages/${pkg}/package.json: depends on ${d}, which DESIGN.md's arrows forbid`)
    const fileGraph = new Map()
    for (const area of ['src', 'test', 'bench', 'sim']) {
      for (const file of walk(join(dir, area))) {
        const rel = relative(root, file)
        const edges = []
        for (const { spec, typeOnly } of importsOf(readFileSync(file, 'utf8'))) {
          if (spec.startsWith('.')) {
            const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts')
            if (!target.startsWith(dir + '/')) problems.push(`${rel}: relative import '${spec}' leaves the package (import @strata/... instead)`)
            if (area === 'src' && !target.startsWith(join(dir, 'src') + '/')) problems.push(`${rel}: production code imports '${spec}' from outside src/`)
            if (!typeOnly) edges.push(target)
            continue
          }
          const name = spec.startsWith('node:') ? spec : spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/')
          if (spec.startsWith('node:') || builtins.has(name)) continue
          if (name.startsWith('@strata/')) {
            const target = name.slice(8)
            if (target === pkg) problems.push(`${rel}: imports its own package by name; use a relative import`)
            else if (area === 'src' && !allowed.includes(target)) problems.push(`${rel}: imports ${name}; ${pkg} may import only ${allowed.map((a) => '@strata/' + a).join(', ') || 'nothing from the repo'}`)
            else if (area !== 'src' && !devDeps.has(name)) problems.push(`${rel}: imports ${name}, which packages/${pkg}/package.json does not declare`)
            continue
          }
          const declared = area === 'src' ? deps : devDeps
          const rootDev = ['uvu', 'tinybench', 'tsx', 'typescript', '@types/node']
          if (!declared.has(name) && !(area !== 'src' && rootDev.includes(name))) problems.push(`${rel}: imports '${name}', which packages/${pkg}/package.json does not declare in ${area === 'src' ? 'dependencies' : 'dependencies or devDependencies'}`)
        }
        if (area === 'src') fileGraph.set(file, edges)
      }
    }
    const cycle = findCycle(fileGraph)
    if (cycle) problems.push(`packages/${pkg}/src: import cycle ${cycle.map((f) => relative(dir, f)).join(' -> ')}`)
  }
  const cycle = findCycle(pkgGraph)
  if (cycle) problems.push(`package cycle: ${cycle.join(' -> ')}`)
  return problems
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const problems = checkDeps()
  for (const p of problems) console.log(p)
  console.log(problems.length === 0 ? 'dependency arrows: ok' : `${problems.length} dependency problem(s)`)
  process.exitCode = problems.length === 0 ? 0 : 1
}
