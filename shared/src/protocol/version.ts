/** The wire protocol version hub and pages compare when they connect; bump it on any incompatible change to ./events.ts or ./messages.ts. */
export const PROTOCOL_VERSION = 2;

/** Why a connection was refused before any event flowed. */
export const CONNECT_REFUSALS = {
  /** The page is older than the hub: it should reload to get the current page. */
  clientTooOld: 'client_too_old',
  /** The hub is older than the page: wait and retry. */
  serverTooOld: 'server_too_old',
  unauthorized: 'unauthorized',
  invalidHandshake: 'invalid_handshake',
  /** Too many connections from one address (see the hub's --max-connections-per-address). */
  tooManyConnections: 'too_many_connections',
  /** The hub is a private pool and the device did not bring its join token (or brought a wrong one). */
  joinTokenRequired: 'join_token_required',
  /** A browser page of an origin the hub does not admit (see the hub's --allowed-origins). */
  originNotAllowed: 'origin_not_allowed',
} as const;
export type ConnectRefusal = (typeof CONNECT_REFUSALS)[keyof typeof CONNECT_REFUSALS];

export const DEVICE_NAMESPACE = '/device';
export const DASHBOARD_NAMESPACE = '/dashboard';

/** How often a device says it is alive; each heartbeat extends its leases by LEASE_TTL_MS. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
export const LEASE_TTL_MS = 20_000;
