import type { Permission } from './types.js'
import type { ApiContext, CallContext } from './context.js'
import { type PbHeader, bytesField, enumField, rangeEndField, stringField } from './codec.js'
import { etcdError } from './errors.js'
import type { Req } from './kv.js'

type H = { header: PbHeader }

const PERM_TYPES = ['READ', 'WRITE', 'READWRITE'] as const
const TYPE_OF = { READ: 'read', WRITE: 'write', READWRITE: 'readwrite' } as const
const NAME_OF = { read: 'READ', write: 'WRITE', readwrite: 'READWRITE' } as const

export interface PbPermission { permType: (typeof PERM_TYPES)[number]; key: Uint8Array; range_end: Uint8Array }

function pbPermission(p: Permission): PbPermission {
  return { permType: NAME_OF[p.type], key: p.key, range_end: p.end ?? new Uint8Array(0) }
}

/**
 * etcd's Auth service. Authenticate answers the token clients then send as the `token` metadata.
 * Once auth is on, the reads (UserGet, UserList, RoleGet, RoleList) need role root like the
 * changes (etcd also lets a user get itself and its own roles; Strata does not yet).
 */
export function authHandlers(api: ApiContext) {
  const h = (x: { header: Parameters<ApiContext['header']>[0] }): H => ({ header: api.header(x.header) })
  return {
    AuthEnable: (_r: Req, ctx: CallContext): Promise<H> => api.run(ctx, async (v) => h(await v.auth.authEnable())),
    AuthDisable: (_r: Req, ctx: CallContext): Promise<H> => api.run(ctx, async (v) => h(await v.auth.authDisable())),
    AuthStatus: (_r: Req, ctx: CallContext): Promise<H & { enabled: boolean; authRevision: number }> =>
      api.run(ctx, async (v) => {
        const s = await v.auth.status()
        return { header: api.header(s.header), enabled: s.enabled, authRevision: s.authRevision }
      }),

    /** etcd refuses Authenticate while auth is off ("authentication is not enabled"); clientv3 then goes on without a token. */
    Authenticate: async (r: Req): Promise<H & { token: string }> => {
      const name = stringField(r.name, 'name')
      const password = stringField(r.password, 'password')
      if (!(await api.store.auth.status()).enabled) throw etcdError('authNotEnabled')
      if (name === '') throw etcdError('authFailed')
      const res = await api.store.auth.authenticate(name, password)
      return { header: api.header(res.header), token: res.token }
    },

    UserAdd: (r: Req, ctx: CallContext): Promise<H> =>
      api.run(ctx, async (v) => {
        const name = stringField(r.name, 'name')
        if (name === '') throw etcdError('userEmpty')
        const noPassword = (r.options as Req | null | undefined)?.no_password === true
        return h(await v.auth.userAdd(name, noPassword ? undefined : stringField(r.password, 'password'), { noPassword }))
      }),
    UserGet: (r: Req, ctx: CallContext): Promise<H & { roles: string[] }> =>
      api.run(ctx, async (v) => {
        v.maintenance.checkAdmin()
        const res = await v.auth.userGet(stringField(r.name, 'name'))
        return { header: api.header(res.header), roles: [...res.user.roles] }
      }),
    UserList: (_r: Req, ctx: CallContext): Promise<H & { users: string[] }> =>
      api.run(ctx, async (v) => {
        v.maintenance.checkAdmin()
        const res = await v.auth.userList()
        return { header: api.header(res.header), users: res.users }
      }),
    UserDelete: (r: Req, ctx: CallContext): Promise<H> => api.run(ctx, async (v) => h(await v.auth.userDelete(stringField(r.name, 'name')))),
    UserChangePassword: (r: Req, ctx: CallContext): Promise<H> =>
      api.run(ctx, async (v) => h(await v.auth.userChangePassword(stringField(r.name, 'name'), stringField(r.password, 'password')))),
    UserGrantRole: (r: Req, ctx: CallContext): Promise<H> =>
      api.run(ctx, async (v) => h(await v.auth.userGrantRole(stringField(r.user, 'user'), stringField(r.role, 'role')))),
    UserRevokeRole: (r: Req, ctx: CallContext): Promise<H> =>
      api.run(ctx, async (v) => h(await v.auth.userRevokeRole(stringField(r.name, 'name'), stringField(r.role, 'role')))),
    RoleAdd: (r: Req, ctx: CallContext): Promise<H> =>
      api.run(ctx, async (v) => {
        const name = stringField(r.name, 'name')
        if (name === '') throw etcdError('roleEmpty')
        return h(await v.auth.roleAdd(name))
      }),
    RoleGet: (r: Req, ctx: CallContext): Promise<H & { perm: PbPermission[] }> =>
      api.run(ctx, async (v) => {
        v.maintenance.checkAdmin()
        const res = await v.auth.roleGet(stringField(r.role, 'role'))
        return { header: api.header(res.header), perm: res.role.permissions.map(pbPermission) }
      }),
    RoleList: (_r: Req, ctx: CallContext): Promise<H & { roles: string[] }> =>
      api.run(ctx, async (v) => {
        v.maintenance.checkAdmin()
        const res = await v.auth.roleList()
        return { header: api.header(res.header), roles: res.roles }
      }),
    RoleDelete: (r: Req, ctx: CallContext): Promise<H> => api.run(ctx, async (v) => h(await v.auth.roleDelete(stringField(r.role, 'role')))),
    RoleGrantPermission: (r: Req, ctx: CallContext): Promise<H> =>
      api.run(ctx, async (v) => {
        const perm = r.perm as Req | null | undefined
        if (perm == null) throw etcdError('permissionNotGiven')
        const end = rangeEndField(perm.range_end)
        const type = TYPE_OF[enumField(perm.permType, PERM_TYPES, 'perm.permType')]
        const key = bytesField(perm.key, 'perm.key')
        return h(await v.auth.roleGrantPermission(stringField(r.name, 'name'), end === undefined ? { type, key } : { type, key, end }))
      }),
    RoleRevokePermission: (r: Req, ctx: CallContext): Promise<H> =>
      api.run(ctx, async (v) => h(await v.auth.roleRevokePermission(stringField(r.role, 'role'), bytesField(r.key, 'key'), rangeEndField(r.range_end)))),
  }
}
