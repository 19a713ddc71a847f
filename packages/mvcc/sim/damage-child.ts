// The child of damage.ts's runTrials: runs the trials of a spec file one by one, printing
// `start {i, damage}` before reading back and `result {...}` after, so the runner knows which
// trial a death belongs to.
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { type TrialSpec, applyDamage, readBack } from './damage.js'

const specFile = process.argv[2]
if (specFile === undefined) throw new Error('usage: damage-child.ts <spec file>')
const { dir, pristine, older, specs } = JSON.parse(readFileSync(specFile, 'utf8')) as { dir: string; pristine: string; older: string; specs: TrialSpec[] }
const trialDir = join(dir, `trial-${process.pid}`)
for (let i = 0; i < specs.length; i++) {
  const spec = specs[i]!
  rmSync(trialDir, { recursive: true, force: true })
  mkdirSync(trialDir, { recursive: true })
  const file = join(trialDir, 'data.mdb')
  copyFileSync(pristine, file)
  const damage = applyDamage(file, older, spec)
  process.stdout.write(`start ${JSON.stringify({ i, damage })}\n`)
  const { verdict, detail } = await readBack(trialDir, spec)
  process.stdout.write(`result ${JSON.stringify({ ...spec, verdict, damage, detail })}\n`)
}
rmSync(trialDir, { recursive: true, force: true })
