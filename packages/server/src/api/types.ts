// The store's types this API needs, derived from @strata/embed's public signatures (the server
// may import only embed and seams).
import type { GetOptions, StoreView, Watch } from '@strata/embed'

export type TxnBody = Parameters<StoreView['txn']>[0]
export type TxnOp = NonNullable<TxnBody['success']>[number]
export type Compare = NonNullable<TxnBody['compare']>[number]
export type CompareResult = Compare['result']
export type CompareTarget = Compare['target']
export type RangeOptions = Omit<GetOptions, 'prefix' | 'end' | 'serializable'>
export type SortOrder = NonNullable<GetOptions['sortOrder']>
export type SortTarget = NonNullable<GetOptions['sortTarget']>
export type GetResult = Awaited<ReturnType<StoreView['get']>>
export type KeyValue = GetResult['kvs'][number]
export type ResponseOp = Awaited<ReturnType<StoreView['txn']>>['responses'][number]
export type WatchMessage = Watch extends AsyncIterable<infer T> ? T : never
export type WatchEvent = WatchMessage['events'][number]
export type MemberRecord = ReturnType<StoreView['cluster']['members']>['members'][number]
export type Permission = Awaited<ReturnType<StoreView['auth']['roleGet']>>['role']['permissions'][number]
export type Alarm = ReturnType<StoreView['maintenance']['alarms']>[number]
