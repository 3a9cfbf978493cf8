/** UTF-8 byte length of a string on Node. */
export const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
