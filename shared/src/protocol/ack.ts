/** Acknowledgement envelope for every request/response event: expected failures are data, tagged by `ok`. */
export interface WireError {
  code: string;
  message: string;
}

export type Ack<TData> = { ok: true; data: TData } | { ok: false; error: WireError };

export const ackOk = <TData>(data: TData): Ack<TData> => ({ ok: true, data });
export const ackError = (code: string, message: string): Ack<never> => ({ ok: false, error: { code, message } });
