// What tests, benchmarks and other Strata packages may need beyond the public API: file naming,
// the frame and record layout, the segment decoder, the replay rules and the snapshot file
// codec. No promise of stability: these change with the format.
export { walName, parseWalName, listSegments, searchIndex, isContiguous } from './wal-name.js'
export type { SegmentName } from './wal-name.js'
export {
  CRC_RECORD_BYTES, ENTRY_FIXED_BYTES, FRAME_HEADER_BYTES, HARD_STATE_BYTES, MAX_ENTRY_TYPE, RECORD_TYPE,
  SNAPSHOT_FIXED_BYTES, frameBytes, getU64, setU64,
} from './record.js'
export { scanSegment } from './decoder.js'
export type { ScanOptions, SegmentScan } from './decoder.js'
export { Replay, readSegment, walkSegments } from './reader.js'
export { EMPTY_CONF_STATE, MAX_CONF_STATE_IDS, confStateBytes, getConfState, putConfState } from './conf-state.js'
export { SNAP_MAGIC, SNAP_TRAILER_BYTES, SNAP_VERSION, parseSnapName, snapName } from './snap-file.js'
