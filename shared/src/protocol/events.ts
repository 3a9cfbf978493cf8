/** Socket.IO event maps of the two namespaces, shared by hub and page so both sides type-check against one contract. */
import type { Ack } from './ack.ts';
import type { BlobChunk, FeedSnapshot, HubWelcome, LeaseGrant, SubmitReceipt } from './messages.ts';

/** Namespace `/device`. Payloads arrive as `unknown` at the hub and are parsed there. */
export interface DeviceToHubEvents {
  'work:request': (request: unknown, ack: (res: Ack<LeaseGrant | null>) => void) => void;
  'work:submit': (submit: unknown, ack: (res: Ack<SubmitReceipt>) => void) => void;
  'device:status': (status: unknown) => void;
  /** One chunk of a blob (bundle or shared file) of a job this connection holds a lease of. */
  'blob:read': (request: unknown, ack: (res: Ack<BlobChunk>) => void) => void;
}

export interface HubToDeviceEvents {
  'hub:welcome': (welcome: HubWelcome) => void;
  /** New work may be there: devices with free threads should ask. */
  'work:available': () => void;
  /** The job was cancelled, failed or deleted: abandon its runs. */
  'job:stopped': (payload: { jobId: string }) => void;
}

/** Namespace `/dashboard`: a read-only live feed; actions go through the HTTP API. */
export type DashboardToHubEvents = Record<string, never>;

export interface HubToDashboardEvents {
  'feed:snapshot': (snapshot: FeedSnapshot) => void;
}
