/** The `/device` namespace: device handshake, work requests, result submissions, heartbeats and disconnects. */
import type { Namespace, Socket } from 'socket.io';
import type { z } from 'zod';
import {
  CONNECT_REFUSALS,
  HEARTBEAT_INTERVAL_MS,
  PROTOCOL_VERSION,
  ackError,
  ackOk,
  blobReadSchema,
  deviceHelloSchema,
  deviceStatusSchema,
  workRequestSchema,
  workSubmitSchema,
  type Ack,
  type BlobChunk,
  type DeviceHello,
  type DeviceToHubEvents,
  type HubToDeviceEvents,
} from '@edgeswarm/shared';
import type { Clock } from '../clock.ts';
import { StoreUnavailableError } from '../store/job-store.ts';
import type { JobStore } from '../store/async-store.ts';
import { DeviceQuarantinedError, type DeviceConnection, type WorkService } from '../scheduler/work-service.ts';
import type { BlobDelivery } from '../blobs/blob-delivery.ts';
import { protocolRefusal, refusal } from './handshake.ts';
import { limitMessageRate } from './guards.ts';
import { tokenMatches } from '../admin-token.ts';

export type DeviceNamespace = Namespace<DeviceToHubEvents, HubToDeviceEvents, Record<string, never>, DeviceData>;
type DeviceSocket = Socket<DeviceToHubEvents, HubToDeviceEvents, Record<string, never>, DeviceData>;

export interface DeviceData {
  hello: DeviceHello;
  threads: number;
}

export interface DeviceSocketOptions {
  store: JobStore;
  work: WorkService;
  blobs: BlobDelivery;
  clock: Clock;
  log: (message: string, err?: unknown) => void;
  /** True while the hub stops gracefully: disconnects then leave leases for the next start to void, uncounted. */
  isStopping: () => boolean;
  /** Private pool: the token devices must bring; undefined = anyone may join. */
  joinToken?: string | undefined;
}

/** Parses the payload, calls the handler and acks its answer once it is durable; a thrown error becomes an error ack. */
function handle<TSchema extends z.ZodType, TData>(
  socket: DeviceSocket,
  schema: TSchema,
  fn: (payload: z.infer<TSchema>) => Promise<TData>,
  log: DeviceSocketOptions['log'],
) {
  return (payload: unknown, ack: unknown) => {
    const reply = typeof ack === 'function' ? (ack as (res: Ack<TData>) => void) : () => {};
    const parsed = schema.safeParse(payload);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      reply(ackError('invalid_payload', `${issue?.path.join('.') || 'payload'}: ${issue?.message ?? 'invalid'}`));
      return;
    }
    // The answer waits for the store: its promise settles once the write is durable (commit before acknowledging).
    fn(parsed.data).then(
      (data) => reply(ackOk(data)),
      (err: unknown) => {
        if (err instanceof DeviceQuarantinedError) {
          reply(ackError(err.code, err.message));
          return;
        }
        log(`device ${socket.data.hello?.deviceId ?? socket.id} request failed`, err);
        if (err instanceof StoreUnavailableError) {
          reply(ackError('unavailable', 'the hub cannot store anything right now; nothing was saved, send again later'));
        } else {
          reply(ackError('internal', 'the hub could not handle this request'));
        }
      },
    );
  };
}

export function attachDeviceNamespace(nsp: DeviceNamespace, options: DeviceSocketOptions): void {
  const { store, work, clock, log } = options;

  nsp.use((socket, next) => {
    const hello = deviceHelloSchema.safeParse(socket.handshake.auth);
    if (!hello.success) {
      const protocol = (socket.handshake.auth as { protocol?: unknown } | undefined)?.protocol;
      if (typeof protocol === 'number' && protocol !== PROTOCOL_VERSION) {
        next(protocolRefusal(protocol) ?? refusal(CONNECT_REFUSALS.invalidHandshake, 'bad handshake'));
        return;
      }
      const issue = hello.error.issues[0];
      next(refusal(CONNECT_REFUSALS.invalidHandshake, `auth.${issue?.path.join('.')}: ${issue?.message}`));
      return;
    }
    const mismatch = protocolRefusal(hello.data.protocol);
    if (mismatch) {
      next(mismatch);
      return;
    }
    if (options.joinToken !== undefined && !tokenMatches(options.joinToken, hello.data.joinToken)) {
      next(
        refusal(
          CONNECT_REFUSALS.joinTokenRequired,
          hello.data.joinToken
            ? 'this join token is not the private pool\'s: open the volunteer URL the hub printed'
            : 'this hub is a private pool: open the volunteer URL the hub printed, which carries its join token',
        ),
      );
      return;
    }
    socket.data.hello = hello.data;
    socket.data.threads = hello.data.threads;
    next();
  });

  nsp.on('connection', (socket) => {
    const hello = socket.data.hello;
    const conn: DeviceConnection = {
      deviceId: hello.deviceId,
      connId: socket.id,
      address: socket.handshake.address,
      get threads() {
        return socket.data.threads;
      },
    };
    limitMessageRate(socket, () => clock.monotonic());
    store
      .registerDevice({
        id: hello.deviceId,
        kind: hello.kind,
        name: hello.name,
        threads: hello.threads,
        now: clock.now(),
        address: socket.handshake.address,
      })
      .catch((err: unknown) => log(`registering device ${hello.deviceId} failed`, err));
    socket.emit('hub:welcome', { protocol: PROTOCOL_VERSION, deviceId: hello.deviceId, heartbeatMs: HEARTBEAT_INTERVAL_MS });

    socket.on('work:request', handle(socket, workRequestSchema, (req) => work.requestWork(conn, req.slots), log));
    socket.on('work:submit', handle(socket, workSubmitSchema, (sub) => work.submitResults(conn, sub), log));
    // Reads only: answered in their turn (BlobDelivery), with nothing to make durable first.
    socket.on('blob:read', (payload: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return;
      const reply = ack as (res: Ack<BlobChunk>) => void;
      const request = blobReadSchema.safeParse(payload);
      if (!request.success) {
        reply(ackError('invalid_payload', 'blob:read needs {"blob": the 64 hex digits of a SHA-256, "chunk": an integer from 0}'));
        return;
      }
      options.blobs.read(conn.connId, request.data, () => unreadBytes(socket)).then(
        (outcome) => reply(outcome.ok ? ackOk(outcome.chunk) : ackError(outcome.code, outcome.message)),
        (err: unknown) => {
          log(`device ${hello.deviceId} could not read blob ${request.data.blob}`, err);
          reply(
            err instanceof StoreUnavailableError
              ? ackError('unavailable', 'the hub cannot read its storage right now; ask again later')
              : ackError('internal', 'the hub could not read this blob'),
          );
        },
      );
    });
    socket.on('device:status', (payload: unknown) => {
      const status = deviceStatusSchema.safeParse(payload);
      if (!status.success) return;
      socket.data.threads = status.data.threads;
      work.heartbeat(conn, status.data).catch((err: unknown) => log('heartbeat failed', err));
    });
    socket.on('disconnect', () => {
      if (options.isStopping()) return;
      work.disconnected(conn).catch((err: unknown) => log('releasing leases of a disconnected device failed', err));
    });
  });
}

/**
 * Bytes queued for a socket and not yet taken by the device: Engine.IO's write buffer plus, on a WebSocket, what the
 * socket has buffered. Engine.IO has no public figure for this, so it is read defensively (0 where absent).
 */
function unreadBytes(socket: DeviceSocket): number {
  const conn = socket.conn as unknown as { writeBuffer?: { data?: unknown }[]; transport?: { socket?: { bufferedAmount?: unknown } } };
  const buffered = conn.transport?.socket?.bufferedAmount;
  let bytes = typeof buffered === 'number' ? buffered : 0;
  for (const packet of conn.writeBuffer ?? []) {
    const data = packet.data;
    if (typeof data === 'string') bytes += data.length;
    else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) bytes += data.byteLength;
  }
  return bytes;
}
