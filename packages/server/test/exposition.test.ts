import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { EXPOSITION_CONTENT_TYPE, Histogram, writeFamily } from '../src/exposition.js'

test('a family is HELP, TYPE and a line per sample, label values escaped, no sample lines when it has none', () => {
  assert.is(writeFamily('up', 'Is it up.', 'gauge', [{ labels: {}, value: 1 }]), '# HELP up Is it up.\n# TYPE up gauge\nup 1\n')
  assert.is(
    writeFamily('calls_total', 'Calls\nmade.', 'counter', [{ labels: { m: 'a"b\\c\nd', code: 'OK' }, value: 2.5 }, { labels: { m: 'x', code: 'OK' }, value: Infinity }]),
    '# HELP calls_total Calls\\nmade.\n# TYPE calls_total counter\ncalls_total{m="a\\"b\\\\c\\nd",code="OK"} 2.5\ncalls_total{m="x",code="OK"} +Inf\n',
  )
  assert.is(writeFamily('gone', 'Unavailable now.', 'gauge', []), '# HELP gone Unavailable now.\n# TYPE gone gauge\n')
  assert.match(EXPOSITION_CONTENT_TYPE, /^text\/plain; version=0\.0\.4/)
})

test('a histogram writes cumulative bucket counts, +Inf as the count of every observation, and their sum', () => {
  const h = new Histogram([0.1, 1, 10])
  for (const v of [0.05, 0.1, 0.5, 2, 20, 30]) h.observe(v)
  assert.is(h.write('lat_seconds', 'Latency.'), [
    '# HELP lat_seconds Latency.', '# TYPE lat_seconds histogram',
    'lat_seconds_bucket{le="0.1"} 2', 'lat_seconds_bucket{le="1"} 3', 'lat_seconds_bucket{le="10"} 4', 'lat_seconds_bucket{le="+Inf"} 6',
    'lat_seconds_sum 52.65', 'lat_seconds_count 6', '',
  ].join('\n'))
  assert.throws(() => new Histogram([1, 1]), /ascend/)
})

test.run()
