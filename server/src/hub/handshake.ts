/** Checks the protocol version in a Socket.IO handshake and turns refusals into connect errors the page understands. */
import { CONNECT_REFUSALS, PROTOCOL_VERSION, type ConnectRefusal } from '@edgeswarm/shared';

/** An Error whose message is the refusal code; Socket.IO sends `message` and `data` to the client. */
export function refusal(code: ConnectRefusal, detail: string): Error & { data: unknown } {
  return Object.assign(new Error(code), { data: { code, message: detail, hubProtocol: PROTOCOL_VERSION } });
}

export function protocolRefusal(clientProtocol: number): (Error & { data: unknown }) | null {
  if (clientProtocol < PROTOCOL_VERSION) {
    return refusal(CONNECT_REFUSALS.clientTooOld, `this page speaks protocol ${clientProtocol}; the hub speaks ${PROTOCOL_VERSION}: reload`);
  }
  if (clientProtocol > PROTOCOL_VERSION) {
    return refusal(CONNECT_REFUSALS.serverTooOld, `this page speaks protocol ${clientProtocol}; the hub only ${PROTOCOL_VERSION}`);
  }
  return null;
}
