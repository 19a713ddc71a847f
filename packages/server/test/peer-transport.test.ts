import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ServerError } from '../src/peer/errors.js'
import { FRAME_MESSAGE, PROTOCOL_VERSION, encodeFrame, encodeHello } from '../src/peer/frame.js'
import { clusterIdFor, memberIdFor } from '../src/peer/ids.js'
import { type PeerEvent, TcpTransport, type TcpTransportOptions, fetchMembers } from '../src/peer/tcp-transport.js'
import { loadTls } from '../src/tls.js'
import { makeTestCerts } from './tls-certs.js'

const CLUSTER = 77
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

interface Node { t: TcpTransport; got: [number, string][]; events: PeerEvent[] }

async function node(id: number, extra: Partial<TcpTransportOptions> = {}, port = 0): Promise<Node> {
  const got: [number, string][] = []
  const events: PeerEvent[] = []
  const scheme = extra.tls === undefined ? 'http' : 'https'
  const t = await TcpTransport.open({ memberId: id, clusterId: CLUSTER, listenUrl: `${scheme}://127.0.0.1:${port}`, backoffMinMs: 5, backoffMaxMs: 40, onEvent: (e) => events.push(e), ...extra })
  t.onMessage((from, m) => got.push([from, Buffer.from(m).toString()]))
  return { t, got, events }
}

function link(nodes: Node[], scheme = 'http'): void {
  for (const a of nodes) for (const b of nodes) if (a !== b) a.t.setPeer(idOf(b, nodes), [`${scheme}://127.0.0.1:${b.t.port}`])
}
const idOf = (n: Node, nodes: Node[]): number => nodes.indexOf(n) + 1

test('three transports on loopback deliver every message to the right member, in order per sender', async () => {
  const nodes = [await node(1), await node(2), await node(3)]
  link(nodes)
  for (let i = 0; i < 100; i++) for (const [ai, a] of nodes.entries()) for (let to = 1; to <= 3; to++) if (to !== ai + 1) a.t.send(to, Buffer.from(`${ai + 1}->${to}#${i}`))
  await until('300 messages per member... 200', () => nodes.every((n) => n.got.length === 200))
  for (const [i, n] of nodes.entries()) {
    for (const from of [1, 2, 3].filter((f) => f !== i + 1)) {
      const seq = n.got.filter(([f]) => f === from).map(([, m]) => m)
      assert.equal(seq, Array.from({ length: 100 }, (_, k) => `${from}->${i + 1}#${k}`))
    }
  }
  assert.is(nodes[0]!.t.stats().sentMessages, 200)
  assert.is(nodes[0]!.t.stats().receivedMessages, 200)
  await Promise.all(nodes.map((n) => n.t.close()))
})

test('a sender reconnects after its peer restarts on the same port, with backoff, and delivers what it sends then', async () => {
  const a = await node(1)
  let b = await node(2)
  const port = b.t.port
  a.t.setPeer(2, [`http://127.0.0.1:${port}`])
  a.t.send(2, Buffer.from('before'))
  await until('first delivery', () => b.got.length === 1)
  await b.t.close()
  a.t.send(2, Buffer.from('while-down'))
  await until('a disconnect event', () => a.events.some((e) => e.type === 'disconnected'))
  b = await node(2, {}, port)
  for (let i = 0; b.got.length === 0; i++) {
    a.t.send(2, Buffer.from(`after#${i}`))
    await sleep(10)
    assert.ok(i < 300, 'no delivery after the restart')
  }
  assert.ok(b.got.some(([, m]) => m.startsWith('after#') || m === 'while-down'))
  const disconnects = a.events.filter((e) => e.type === 'disconnected') as { retryInMs: number }[]
  assert.ok(disconnects.every((e) => e.retryInMs >= 3 && e.retryInMs <= 40), `delays within [min/2, max]: ${disconnects.map((e) => e.retryInMs)}`)
  await a.t.close()
  await b.t.close()
})

test('messages to a peer that is down are bounded in count and bytes; the oldest are dropped and counted', async () => {
  const a = await node(1, { maxFrameBytes: 64 * 1024, maxQueueMessages: 100, maxQueueBytes: 128 * 1024 })
  a.t.setPeer(2, ['http://127.0.0.1:1'])
  for (let i = 0; i < 10_000; i++) a.t.send(2, Buffer.alloc(100, i % 256))
  let peer = a.t.stats().peers.find((p) => p.id === 2)!
  assert.ok(peer.queuedMessages <= 100)
  assert.is(a.t.stats().droppedMessages, 10_000 - peer.queuedMessages)
  for (let i = 0; i < 100; i++) a.t.send(2, Buffer.alloc(4000))
  peer = a.t.stats().peers.find((p) => p.id === 2)!
  assert.ok(peer.queuedBytes <= 128 * 1024, `queued ${peer.queuedBytes} bytes`)
  assert.ok(peer.queuedMessages < 40)
  assert.ok(a.events.some((e) => e.type === 'dropped' && e.reason === 'queue-full'))
  a.t.send(2, Buffer.alloc(65 * 1024))
  assert.ok(a.events.some((e) => e.type === 'dropped' && e.reason === 'oversized'), 'a message above maxFrameBytes is dropped')
  await a.t.close()
})

function rawPeer(port: number, from: number, to: number, cluster = CLUSTER): Promise<{ sock: ReturnType<typeof netConnect>; data: Buffer[]; closed: Promise<void> }> {
  return new Promise((ok) => {
    const sock = netConnect({ host: '127.0.0.1', port }, () => {
      sock.write(encodeHello({ version: PROTOCOL_VERSION, clusterId: cluster, from, to }))
      ok({ sock, data, closed })
    })
    const data: Buffer[] = []
    sock.on('data', (d) => data.push(d))
    sock.on('error', () => {})
    const closed = new Promise<void>((r) => sock.on('close', () => r()))
  })
}

test('a frame with a bad checksum closes the connection, is counted and is never delivered; good frames before it are', async () => {
  const b = await node(2)
  const p = await rawPeer(b.t.port, 1, 2)
  p.sock.write(encodeFrame(FRAME_MESSAGE, Buffer.from('good')))
  const bad = encodeFrame(FRAME_MESSAGE, Buffer.from('evil'))
  bad[bad.length - 1]! ^= 1
  p.sock.write(bad)
  p.sock.write(encodeFrame(FRAME_MESSAGE, Buffer.from('after')))
  await p.closed
  assert.equal(b.got, [[1, 'good']])
  assert.is(b.t.stats().badFrames, 1)
  assert.ok(b.events.some((e) => e.type === 'bad-frame' && /checksum/.test(e.reason)))
  await b.t.close()
})

test('an oversized frame header, garbage before a hello and a hello from another cluster are all refused', async () => {
  const b = await node(2, { maxFrameBytes: 64 * 1024 })
  const big = await rawPeer(b.t.port, 1, 2)
  const head = Buffer.alloc(9)
  head.writeUInt32BE(64 * 1024 + 1, 0)
  big.sock.write(head)
  await big.closed
  const garbage = netConnect({ host: '127.0.0.1', port: b.t.port })
  garbage.on('error', () => {})
  garbage.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
  await new Promise((r) => garbage.on('close', r))
  const stranger = await rawPeer(b.t.port, 1, 2, CLUSTER + 1)
  await stranger.closed
  assert.match(Buffer.concat(stranger.data).toString('latin1'), /cluster id/)
  const a = await node(1, { clusterId: CLUSTER + 1 })
  a.t.setPeer(2, [`http://127.0.0.1:${b.t.port}`])
  a.t.send(2, Buffer.from('x'))
  await until('a rejected event', () => a.events.some((e) => e.type === 'rejected'))
  assert.equal(b.got, [])
  assert.ok(b.t.stats().badFrames >= 2)
  assert.ok(b.t.stats().refusedConnections >= 2)
  await a.t.close()
  await b.t.close()
})

test('bad options and arguments are typed errors', async () => {
  for (const bad of [{ memberId: 0, clusterId: 1 }, { memberId: 1, clusterId: 1, maxFrameBytes: 10 }, { memberId: 1, clusterId: 1, listenUrl: 'tcp://x:1' }, { memberId: 1, clusterId: 1, listenUrl: 'http://127.0.0.1' }]) {
    try {
      await TcpTransport.open(bad)
      assert.unreachable(`accepted ${JSON.stringify(bad)}`)
    } catch (err) {
      assert.instance(err, ServerError)
      assert.match((err as ServerError).code, /^ERR_SERVER_(INVALID_OPTION|BAD_URL)$/)
    }
  }
  const t = await TcpTransport.open({ memberId: 1, clusterId: 1 })
  assert.throws(() => t.send(-1, new Uint8Array(1)), (e: ServerError) => e.code === 'ERR_SERVER_INVALID_ARGUMENT')
  assert.throws(() => t.send(2, 'x' as unknown as Uint8Array), (e: ServerError) => e.code === 'ERR_SERVER_INVALID_ARGUMENT')
  await t.close()
  await t.close()
  assert.throws(() => t.send(2, new Uint8Array(1)), (e: ServerError) => e.code === 'ERR_SERVER_CLOSED')
})

test('a members request is answered with the membership, refused for another cluster or without a members source', async () => {
  const members = [{ id: 1, name: 'a', peerUrls: ['http://127.0.0.1:1'], isLearner: false }, { id: 9, name: '', peerUrls: ['http://127.0.0.1:2'], isLearner: true }]
  const b = await node(2, { members: () => members })
  assert.equal(await fetchMembers(`http://127.0.0.1:${b.t.port}`, { clusterId: CLUSTER }), members)
  try {
    await fetchMembers(`http://127.0.0.1:${b.t.port}`, { clusterId: CLUSTER + 1 })
    assert.unreachable('another cluster got the membership')
  } catch (err) {
    assert.is((err as ServerError).code, 'ERR_SERVER_UNAVAILABLE')
    assert.match((err as Error).message, /cluster/)
  }
  const c = await node(3)
  try {
    await fetchMembers(`http://127.0.0.1:${c.t.port}`, { clusterId: CLUSTER })
    assert.unreachable('a transport without a members source answered')
  } catch (err) {
    assert.is((err as ServerError).code, 'ERR_SERVER_UNAVAILABLE')
  }
  await b.t.close()
  await c.t.close()
})

test('member and cluster ids derive from peer URLs and the token: stable, safe integers, order-free', () => {
  const a = memberIdFor(['http://127.0.0.1:2380', 'http://10.0.0.1:2380'], 'tok')
  assert.is(a, memberIdFor(['http://10.0.0.1:2380', 'http://127.0.0.1:2380'], 'tok'))
  assert.is.not(a, memberIdFor(['http://127.0.0.1:2380', 'http://10.0.0.1:2380'], 'other'))
  assert.ok(Number.isSafeInteger(a) && a > 0)
  assert.ok(Number.isSafeInteger(clusterIdFor('tok')) && clusterIdFor('tok') !== clusterIdFor('tok2'))
})

test('TLS with client-cert auth: members with the CA-signed certificate talk; a client without a valid certificate is refused', async () => {
  const certs = makeTestCerts()
  const tls = loadTls({ certFile: certs.certFile, keyFile: certs.keyFile, trustedCaFile: certs.caFile, clientCertAuth: true }, 'peer-')
  const nodes = [await node(1, { tls }), await node(2, { tls })]
  link(nodes, 'https')
  nodes[0]!.t.send(2, Buffer.from('over tls'))
  nodes[1]!.t.send(1, Buffer.from('back'))
  await until('tls delivery', () => nodes[0]!.got.length === 1 && nodes[1]!.got.length === 1)
  assert.equal(nodes[1]!.got, [[1, 'over tls']])
  for (const client of [{}, { cert: readFile(certs.strangerCertFile), key: readFile(certs.strangerKeyFile) }]) {
    const refused = await new Promise<string>((done) => {
      const s = tlsConnect({ host: '127.0.0.1', port: nodes[1]!.t.port, ca: readFile(certs.caFile), ...client }, () => {
        s.write(encodeHello({ version: PROTOCOL_VERSION, clusterId: CLUSTER, from: 1, to: 2 }))
      })
      s.on('data', () => done('answered'))
      s.on('error', (e) => done(`error: ${e.message}`))
      s.on('close', () => done('closed'))
    })
    assert.ok(refused !== 'answered', `a client with ${Object.keys(client).length === 0 ? 'no certificate' : 'a stranger certificate'} got an answer`)
  }
  await until('refusals counted', () => nodes[1]!.t.stats().refusedConnections >= 2)
  assert.equal(nodes[1]!.got, [[1, 'over tls']])
  assert.throws(() => loadTls({ certFile: certs.certFile, keyFile: certs.keyFile, clientCertAuth: true }), (e: ServerError) => e.code === 'ERR_SERVER_INVALID_OPTION')
  assert.throws(() => loadTls({ certFile: '/nonexistent.pem', keyFile: certs.keyFile }), (e: ServerError) => e.code === 'ERR_SERVER_TLS')
  await Promise.all(nodes.map((n) => n.t.close()))
})

import { readFileSync } from 'node:fs'
const readFile = (p: string): Buffer => readFileSync(p)

test.run()
