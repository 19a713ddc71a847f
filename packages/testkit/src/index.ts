export { opsPerSecond, printResult, quick, runBench } from './bench.js'
