// The only module that imports socket.io-client: typed sockets for the hub's `/device` and `/dashboard` namespaces.
import { io, type Socket } from 'socket.io-client';
import {
  DASHBOARD_NAMESPACE,
  DEVICE_NAMESPACE,
  type DashboardHello,
  type DashboardToHubEvents,
  type DeviceHello,
  type DeviceToHubEvents,
  type DeviceLinkSocket,
  FailoverSocket,
  type HubToDashboardEvents,
  type HubToDeviceEvents,
} from '@edgeswarm/shared';

export type DeviceSocket = Socket<HubToDeviceEvents, DeviceToHubEvents>;
export type DashboardSocket = Socket<HubToDashboardEvents, DashboardToHubEvents>;

/**
 * Connects a volunteer device to the page's own hub, or to the first of `hubs` that answers (moving to the next
 * when its hub dies). Socket.IO reconnects by itself with backoff after transport errors.
 */
export function createDeviceSocket(auth: DeviceHello, hubs?: readonly string[]): DeviceLinkSocket {
  if (!hubs || hubs.length === 0) return io(location.origin + DEVICE_NAMESPACE, { auth }) as DeviceSocket;
  return new FailoverSocket(hubs, (url) => io(url + DEVICE_NAMESPACE, { auth, forceNew: true }) as DeviceSocket);
}

/** Connects the dashboard's read-only live feed. */
export function createDashboardSocket(auth: DashboardHello): DashboardSocket {
  return io(location.origin + DASHBOARD_NAMESPACE, { auth });
}

/**
 * Socket.IO does not retry a connection the hub refused in its middleware (`socket.active` is false);
 * transport errors, by contrast, are retried automatically.
 */
export function wasRefusedByHub(socket: { readonly active: boolean }): boolean {
  return !socket.active;
}
