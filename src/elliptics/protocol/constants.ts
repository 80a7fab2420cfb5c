// Numbers of the Elliptics 2.26 / 3.0 wire protocol (spec: elliptics-protocol.md §2, §6, §7, §8).
// Both versions share every value listed here.

/** Size of the `dnet_cmd` header that starts every message. */
export const HEADER_SIZE = 120;
/** Size of a key id (SHA-512). */
export const ID_SIZE = 64;
/** Size of `dnet_io_attr`, the payload prefix of WRITE, READ, DEL and BULK_READ. */
export const IO_ATTR_SIZE = 208;
/** Size of `dnet_addr`. */
export const ADDR_SIZE = 32;
/** Size of `dnet_file_info` (not packed: 4 bytes of padding after the checksum). */
export const FILE_INFO_SIZE = 112;
/** Size of `dnet_monitor_stat_request`; a node refuses any other size with -EINVAL. */
export const MONITOR_STAT_REQUEST_SIZE = 44;
/** Size of one `dnet_backend_status` entry. */
export const BACKEND_STATUS_SIZE = 96;
/** Size of `dnet_backend_control` without its trailing ids. */
export const BACKEND_CONTROL_SIZE = 72;
/** Size of `dnet_node_status` (STATUS payload and the stall ping of BACKEND_STATUS). */
export const NODE_STATUS_SIZE = 12;
/** Size of `dnet_auth`. */
export const AUTH_SIZE = 64;

export const Command = {
  LOOKUP: 1,
  REVERSE_LOOKUP: 2,
  JOIN: 3,
  WRITE: 4,
  READ: 5,
  LIST_DEPRECATED: 6,
  EXEC: 7,
  ROUTE_LIST: 8,
  STAT_DEPRECATED: 9,
  NOTIFY: 10,
  DEL: 11,
  STAT_COUNT_DEPRECATED: 12,
  STATUS: 13,
  READ_RANGE: 14,
  DEL_RANGE: 15,
  AUTH: 16,
  BULK_READ: 17,
  DEFRAG_DEPRECATED: 18,
  ITERATOR: 19,
  INDEXES_UPDATE: 20,
  INDEXES_INTERNAL: 21,
  INDEXES_FIND: 22,
  MONITOR_STAT: 23,
  UPDATE_IDS: 24,
  BACKEND_CONTROL: 25,
  BACKEND_STATUS: 26,
  SEND: 27,
  UNKNOWN: 28,
} as const;
export type CommandNumber = (typeof Command)[keyof typeof Command];

const commandNames = new Map<number, string>(Object.entries(Command).map(([name, n]) => [n, name]));
/** The name a real node uses for a command in logs and statistics (DEL is "REMOVE" there). */
export function commandName(cmd: number): string {
  if (cmd === Command.DEL) return 'REMOVE';
  return commandNames.get(cmd) ?? `CMD_${cmd}`;
}

/**
 * Command flags (`dnet_cmd.flags`, "cflags"), low 32 bits. Bits 32 and up are command-specific
 * and travel in `Header.flagsHigh`.
 */
export const CommandFlags = {
  NEED_ACK: 0x1,
  MORE: 0x2,
  /** Local to the C library; never on the wire. */
  DESTROY: 0x4,
  DIRECT: 0x8,
  NOLOCK: 0x10,
  CHECKSUM: 0x20,
  NOCACHE: 0x40,
  DIRECT_BACKEND: 0x80,
  TRACE_BIT: 0x100,
  REPLY: 0x200,
} as const;

/**
 * Ours, in the command-specific high bits of the flags (`Header.flagsHigh`, bit 48): on READ and
 * LOOKUP, asks our node to say when a missing key was removed — its -ENOENT ACK then carries an
 * io_attr with record flag REMOVE and the removal's time — so a reader can order a removal in one
 * group against an older copy in another. A real node ignores the bit and answers a bare -ENOENT.
 */
export const FlagsHigh = {
  REMOVAL_TIME: 0x0001_0000,
  /**
   * Ours (bit 49), on READ to our node on the same host: the node checks the window as for a read
   * (its chunks' CRCs included) but answers where the bytes lie instead of sending them — the
   * io_attr, then a Location (location.ts) — and the reader takes them from the file itself.
   */
  LOCATE: 0x0002_0000,
  /**
   * Ours (bit 50), on WRITE to our node on the same host: after the data the payload lists more
   * groups (u32 count, u32 each) served by the same node, and the node stores the same bytes in each
   * of them — one transfer and one checksum pass for every replica it holds. It answers one ACK per
   * group (the reply's group field says which; MORE on all but the last to finish).
   */
  ALSO_GROUPS: 0x0004_0000,
  /**
   * Ours (bit 51), in the answer to a LOCATE: the node read the window's bytes a moment ago (to
   * verify them, now or within WARM_SECONDS), so they are in the page cache and the reader may take
   * them synchronously — a hop through the thread pool would cost more than the copy.
   */
  WARM: 0x0008_0000,
  /**
   * Ours (bit 52). On a LOCATE: the reader would keep the location and serve the window from the
   * file again without asking, for KEEP_SECONDS — so the node locates even a small window (its
   * bytes still come in the reply, the location after them). In the answer: it may — the node
   * verified the window's chunks recently enough that the verification holds that long
   * (verify-ttl), or none was asked for. The reader still compares the record header on disk at
   * each use, so an overwrite, a removal or a compaction ends the keeping at once.
   */
  KEEP: 0x0010_0000,
} as const;

/** How long a reader may serve a window from a location the node let it keep (FlagsHigh.KEEP). */
export const KEEP_SECONDS = 2;

/** I/O flags (`dnet_io_attr.flags`, u32). */
export const IoFlags = {
  SKIP_SENDING: 0x1,
  APPEND: 0x2,
  PREPARE: 0x10,
  COMMIT: 0x20,
  REMOVED: 0x40,
  OVERWRITE: 0x80,
  NOCSUM: 0x100,
  PLAIN_WRITE: 0x200,
  CACHE: 0x400,
  CACHE_ONLY: 0x800,
  CACHE_REMOVE_FROM_DISK: 0x1000,
  COMPARE_AND_SWAP: 0x2000,
  /** READ: return SHA-512 of the data in `parent`. */
  CHECKSUM: 0x4000,
  /** WRITE: reply with a bare ACK instead of file info (same bit as CHECKSUM). */
  WRITE_NO_FILE_INFO: 0x4000,
  CAS_TIMESTAMP: 0x8000,
  MIX_STATES: 0x10000,
  NOCACHE: 0x10000000,
} as const;

/** Record flags (eblob on-disk flags) reported in file info and READ replies. */
export const RecordFlags = {
  REMOVE: 0x1,
  NOCSUM: 0x2,
  APPEND: 0x10,
  EXTHDR: 0x40,
  UNCOMMITTED: 0x80,
  CHUNKED_CSUM: 0x100,
} as const;

/** MONITOR_STAT categories. */
export const MonitorCategory = {
  CACHE: 0x01,
  IO: 0x02,
  COMMANDS: 0x04,
  BACKEND: 0x10,
  STATS: 0x20,
  PROCFS: 0x40,
  TOP: 0x80,
} as const;
/** The categories elliptics-go and backrunner ask for: commands | backend | procfs. */
export const MONITOR_CATEGORIES_BACKRUNNER = 0x54;

/** `dnet_backend_control.command`. */
export const BackendCommand = {
  ENABLE: 0,
  DISABLE: 1,
  START_DEFRAG: 2,
  SET_IDS: 3,
  READ_ONLY: 4,
  WRITEABLE: 5,
  SET_DELAY: 6,
  STOP_DEFRAG: 7,
} as const;

/** `dnet_backend_status.state`. */
export const BackendState = {
  UNINITIALIZED: -1,
  DISABLED: 0,
  ENABLED: 1,
  ACTIVATING: 2,
  DEACTIVATING: 3,
} as const;

/** `dnet_backend_ids.flags` in UPDATE_IDS: the backend went away. */
export const BACKEND_IDS_DISABLE = 1;

/** Negative errno values carried in `dnet_cmd.status` (Linux numbering). */
export const Errno = {
  EPERM: -1,
  ENOENT: -2,
  EINTR: -4,
  EIO: -5,
  ENXIO: -6,
  E2BIG: -7,
  ENOEXEC: -8,
  EBADF: -9,
  ENOMEM: -12,
  EBUSY: -16,
  EEXIST: -17,
  EINVAL: -22,
  EFBIG: -27,
  ENOSPC: -28,
  EROFS: -30,
  ERANGE: -34,
  ENODATA: -61,
  EPROTO: -71,
  EBADFD: -77,
  EMSGSIZE: -90,
  EILSEQ: -84,
  ENOTSUP: -95,
  ESTALE: -116,
  ECONNRESET: -104,
  ETIMEDOUT: -110,
  ECONNREFUSED: -111,
  /** Ours, locally: the node is suspect or down, so it was not asked (a real node never sends it). */
  EHOSTDOWN: -112,
  EALREADY: -114,
} as const;

const errnoNames = new Map<number, string>(Object.entries(Errno).map(([name, n]) => [n, name]));
/** `-2` → `"ENOENT"`; unknown codes come back as the number. */
export function errnoName(status: number): string {
  return errnoNames.get(status) ?? String(status);
}

/** The protocol versions this implementation speaks (same bytes, different version gate). */
export type ProtocolVersion = readonly [major: number, minor: number, patch: number, build: number];
export const VERSION_2_26: ProtocolVersion = [2, 26, 11, 1];
export const VERSION_3_0: ProtocolVersion = [3, 0, 0, 1];

/** True when a peer announcing `v` speaks our wire format (2.26.x or 3.0.x). */
export function isSupportedVersion(v: ProtocolVersion): boolean {
  return (v[0] === 2 && v[1] === 26) || (v[0] === 3 && v[1] === 0);
}
