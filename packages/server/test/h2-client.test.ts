// The lean HTTP/2 + gRPC client (src/h2) against an in-process grpc-js server (node:http2,
// nghttp2: HPACK with its dynamic table and Huffman strings, flow control, trailers).
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import { test } from 'uvu'
import { H2Connection, parseEndpoint } from '../src/h2/client.js'
import { HpackDecoder, HUFFMAN_CODES, encodeHeaderBlock, huffmanDecode, huffmanEncode } from '../src/h2/hpack.js'
import { H2Error } from '../src/h2/errors.js'

const raw = <T extends boolean, U extends boolean>(path: string, requestStream: T, responseStream: U) => ({
  path, requestStream, responseStream,
  requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
})

let server: grpc.Server
let endpoint = ''
const big = Buffer.alloc(300_000, 7)

test.before(async () => {
  server = new grpc.Server()
  server.addService({
    Echo: raw('/test.T/Echo', false, false),
    Fail: raw('/test.T/Fail', false, false),
    Big: raw('/test.T/Big', false, false),
    Chat: raw('/test.T/Chat', true, true),
  }, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      call.sendMetadata(new grpc.Metadata())
      cb(null, call.request)
    },
    Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: 100% wrong ünïcode' }),
    Big: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.concat([call.request, big])),
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (m: Buffer) => call.write(Buffer.concat([Buffer.from('re:'), m])))
      call.on('end', () => call.end())
    },
  } as grpc.UntypedServiceImplementation)
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))))
  endpoint = `127.0.0.1:${port}`
})

test.after(() => {
  server.forceShutdown()
})

const call = (c: H2Connection, path: string, msg: Uint8Array) =>
  new Promise<Buffer>((res, rej) => c.unary(c.requestHeaders(path), msg, (e, m) => (e ? rej(e) : res(Buffer.from(m!)))))

test('huffman: canonical codes match RFC 7541 Appendix B samples, and round-trip', () => {
  assert.equal(HUFFMAN_CODES[48], 0x0) // '0'
  assert.equal(HUFFMAN_CODES[97], 0x3) // 'a'
  assert.equal(HUFFMAN_CODES[0], 0x1ff8)
  assert.equal(HUFFMAN_CODES[255], 0x3ffffee)
  assert.equal(HUFFMAN_CODES[256], 0x3fffffff)
  // RFC 7541 C.4.1: "www.example.com"
  assert.equal(huffmanEncode('www.example.com').toString('hex'), 'f1e3c2e5f23a6ba0ab90f4ff')
  const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('')
  const enc = huffmanEncode(all)
  assert.equal(huffmanDecode(enc, 0, enc.length), all)
  assert.throws(() => huffmanDecode(Buffer.from([0x00]), 0, 1), (e: H2Error) => e.code === 'ERR_SERVER_H2_PROTOCOL')
})

test('hpack: RFC 7541 C.4 requests decode with the dynamic table; the encoder round-trips', () => {
  const d = new HpackDecoder()
  assert.deepEqual(d.decode(Buffer.from('828684418cf1e3c2e5f23a6ba0ab90f4ff', 'hex')), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']])
  assert.deepEqual(d.decode(Buffer.from('828684be5886a8eb10649cbf', 'hex')), [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']])
  assert.equal(d.tableSizeBytes, 110)
  const headers: [string, string][] = [[':method', 'POST'], [':path', '/etcdserverpb.KV/Put'], ['te', 'trailers'], ['token', 'abc']]
  assert.deepEqual(new HpackDecoder().decode(encodeHeaderBlock(headers)), headers)
  assert.throws(() => new HpackDecoder().decode(Buffer.from([0xff, 0x80])), (e: H2Error) => e.code === 'ERR_SERVER_H2_PROTOCOL')
})

test('hpack: decodeAt hands back the last list for the same block while the dynamic table stands still', () => {
  const d = new HpackDecoder()
  const literal = encodeHeaderBlock([[':method', 'POST'], [':path', '/etcdserverpb.KV/Put'], ['te', 'trailers']])
  const framed = Buffer.concat([Buffer.from([1, 2, 3]), literal, Buffer.from([9])])
  const first = d.decodeAt(framed, 3, 3 + literal.length)
  assert.deepEqual(first, [[':method', 'POST'], [':path', '/etcdserverpb.KV/Put'], ['te', 'trailers']])
  assert.equal(d.decodeAt(Buffer.from(literal), 0, literal.length), first, 'the same bytes elsewhere: the same list')
  const trailers = encodeHeaderBlock([['grpc-status', '0']])
  const t1 = d.decodeAt(trailers, 0, trailers.length)
  assert.equal(d.decodeAt(literal, 0, literal.length), first, 'two blocks taking turns are both remembered')
  assert.equal(d.decodeAt(trailers, 0, trailers.length), t1)
  // a block that inserts is decoded every time (each decode inserts again)
  const indexing = Buffer.from('418cf1e3c2e5f23a6ba0ab90f4ff', 'hex') // :authority www.example.com, incremental indexing
  d.decodeAt(indexing, 0, indexing.length)
  d.decodeAt(indexing, 0, indexing.length)
  assert.equal(d.tableSizeBytes, 2 * (10 + 15 + 32))
  // a block that references the dynamic table: the same bytes mean another entry once the table changed
  const ref = Buffer.from([0xbe]) // index 62: the newest dynamic entry
  assert.deepEqual(d.decodeAt(ref, 0, 1), [[':authority', 'www.example.com']])
  const other = Buffer.from('4006637573746f6d0376616c', 'hex') // custom: val, incremental indexing
  assert.deepEqual(d.decodeAt(other, 0, other.length), [['custom', 'val']])
  assert.deepEqual(d.decodeAt(ref, 0, 1), [['custom', 'val']])
  assert.notEqual(d.decodeAt(literal, 0, literal.length), first, 'the table changed since: decoded again')
})

test('unary calls, many in flight, a grpc-status error with its message, a multi-frame response', async () => {
  const c = await H2Connection.open(endpoint)
  try {
    const replies = await Promise.all(Array.from({ length: 300 }, (_, i) => call(c, '/test.T/Echo', Buffer.from(`m${i}`))))
    assert.deepEqual(replies.map(String), Array.from({ length: 300 }, (_, i) => `m${i}`))
    await assert.rejects(call(c, '/test.T/Fail', Buffer.from('x')), (e: H2Error) => {
      assert.equal(e.code, 'ERR_SERVER_GRPC_STATUS')
      assert.equal(e.context?.grpcStatus, 9)
      assert.equal(e.message, 'etcdserver: 100% wrong ünïcode')
      return true
    })
    await assert.rejects(call(c, '/test.T/Nope', Buffer.from('x')), (e: H2Error) => e.code === 'ERR_SERVER_GRPC_STATUS' && e.context?.grpcStatus === 12)
    // responses past the 64 KiB default windows and the 16 KiB frame size, and a request larger than the server's windows
    const bigs = await Promise.all(Array.from({ length: 4 }, () => call(c, '/test.T/Big', Buffer.alloc(200_000, 1))))
    for (const b of bigs) assert.equal(b.length, 500_000)
    assert.equal(c.activeStreams, 0)
  } finally {
    await c.close()
  }
})

test('bidirectional stream: messages both ways, half-close ends it with status 0', async () => {
  const c = await H2Connection.open(endpoint)
  try {
    const got: string[] = []
    const ended = await new Promise<H2Error | null>((res) => {
      const s = c.stream(c.requestHeaders('/test.T/Chat'), { onMessage: (m) => got.push(m.toString()), onEnd: res })
      for (let i = 0; i < 50; i++) s.send(Buffer.from(`q${i}`))
      s.end()
    })
    assert.equal(ended, null)
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `re:q${i}`))
  } finally {
    await c.close()
  }
})

test('close fails calls in flight with ERR_SERVER_H2_CLOSED; bad endpoints are typed errors', async () => {
  const c = await H2Connection.open(endpoint)
  const p = new Promise<H2Error | null>((res) => c.stream(c.requestHeaders('/test.T/Chat'), { onMessage: () => {}, onEnd: res }))
  await c.close()
  assert.equal((await p)?.code, 'ERR_SERVER_H2_CLOSED')
  await assert.rejects(call(c, '/test.T/Echo', Buffer.from('x')), (e: H2Error) => e.code === 'ERR_SERVER_H2_CLOSED')
  assert.throws(() => parseEndpoint('nope'), (e: H2Error) => e.code === 'ERR_SERVER_INVALID_ARGUMENT')
  assert.deepEqual(parseEndpoint('http://[::1]:2379'), { host: '::1', port: 2379 })
  await assert.rejects(H2Connection.open('127.0.0.1:1'), (e: H2Error) => e.code === 'ERR_SERVER_H2_CLOSED')
})

test.run()
