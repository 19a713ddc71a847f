// The `etcd3` npm client (1.1.x) against a Strata gRPC server started in this process.
import assert from 'node:assert/strict'
import { Etcd3 } from 'etcd3'
import { test } from 'uvu'
import { type ApiFixture, startApiServer } from './api-fixture.js'

let f: ApiFixture
let client: Etcd3
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

test.before(async () => {
  f = await startApiServer()
  client = new Etcd3({ hosts: `http://${f.endpoint}` })
})
test.after(async () => {
  client?.close()
  await f?.close()
})

test('put, get, getAll with prefix and count, delete', async () => {
  await client.put('svc/a').value('1')
  await client.put('svc/b').value('2')
  assert.equal(await client.get('svc/a').string(), '1')
  assert.deepEqual(await client.getAll().prefix('svc/').strings(), { 'svc/a': '1', 'svc/b': '2' })
  assert.equal(await client.getAll().prefix('svc/').count(), 2)
  assert.deepEqual(await client.getAll().prefix('svc/').limit(1).keys(), ['svc/a'])
  const del = await client.delete().prefix('svc/').getPrevious()
  assert.deepEqual(del.map((kv) => kv.key.toString()).sort(), ['svc/a', 'svc/b'])
  assert.equal(await client.get('svc/a').string(), null)
})

test('txn through client.if(...).then(...).else(...)', async () => {
  await client.put('cfg').value('blue')
  const yes = await client.if('cfg', 'Value', '==', 'blue').then(client.put('cfg').value('green')).else(client.put('cfg').value('red')).commit()
  assert.equal(yes.succeeded, true)
  const no = await client.if('cfg', 'Value', '==', 'blue').then(client.put('cfg').value('x')).else(client.get('cfg')).commit()
  assert.equal(no.succeeded, false)
  assert.equal(no.responses[0]!.response_range.kvs[0]!.value.toString(), 'green')
})

test('watch: put and delete events with prev kv', async () => {
  const watcher = await client.watch().prefix('wt/').withPreviousKV().create()
  const events: string[] = []
  watcher.on('put', (kv, prev) => events.push(`put ${kv.key.toString()}=${kv.value.toString()} prev=${prev?.value.toString() ?? ''}`))
  watcher.on('delete', (kv) => events.push(`delete ${kv.key.toString()}`))
  await client.put('wt/1').value('a')
  await client.put('wt/1').value('b')
  await client.delete().key('wt/1')
  for (let i = 0; i < 100 && events.length < 3; i++) await sleep(20)
  await watcher.cancel()
  assert.deepEqual(events, ['put wt/1=a prev=', 'put wt/1=b prev=a', 'delete wt/1'])
})

test('lease: grant, attach a key, keep-alive, ttl, revoke deletes the key', async () => {
  const lease = client.lease(30, { autoKeepAlive: false })
  await lease.put('ls/k').value('v')
  const id = await lease.grant()
  assert.ok(id.length > 0)
  const ka = await lease.keepaliveOnce()
  assert.equal(String(ka.TTL), '30')
  const ttl = await client.leaseClient.leaseTimeToLive({ ID: id, keys: true })
  assert.equal(String(ttl.grantedTTL), '30')
  assert.deepEqual(ttl.keys.map((k) => k.toString()), ['ls/k'])
  await lease.revoke()
  assert.equal(await client.get('ls/k').string(), null)
})

test('lock and election recipes work over leases and txns', async () => {
  const held = await client.lock('lk').ttl(10).acquire()
  await assert.rejects(client.lock('lk').ttl(10).acquire(), /Failed to acquire a lock on lk/)
  await held.release()
  assert.equal(await client.lock('lk').ttl(10).do(async () => 'inside'), 'inside')
  const election = client.election('el', 10)
  const campaign = election.campaign('me')
  await campaign.wait()
  assert.equal(await election.leader(), 'me')
  await campaign.resign()
})

test('maintenance status and member list; users, roles and an authenticated client', async () => {
  const st = await client.maintenance.status()
  assert.equal(String(st.leader), '1')
  const members = await client.cluster.memberList({})
  assert.equal(members.members.length, 1)
  await client.user('root').create('rootpw')
  await client.user('root').addRole('root').catch(async () => {
    await client.role('root').create()
    await client.user('root').addRole('root')
  })
  const role = await client.role('app').create()
  await role.grant({ permission: 'Readwrite', range: client.range({ prefix: 'app/' }) })
  await client.user('app').create('apppw')
  await client.user('app').addRole('app')
  await client.auth.authEnable()
  const app = new Etcd3({ hosts: `http://${f.endpoint}`, auth: { username: 'app', password: 'apppw' } })
  const root = new Etcd3({ hosts: `http://${f.endpoint}`, auth: { username: 'root', password: 'rootpw' } })
  try {
    await app.put('app/x').value('1')
    assert.equal(await app.get('app/x').string(), '1')
    await assert.rejects(app.put('other').value('1').exec(), /permission denied/)
    await assert.rejects(client.get('app/x').string(), /user name is empty/)
  } finally {
    await root.auth.authDisable()
    app.close()
    root.close()
  }
  assert.equal(await client.get('app/x').string(), '1')
})

test.run()
