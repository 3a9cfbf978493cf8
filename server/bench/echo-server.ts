/** The baseline of the dispatch benchmark: a minimal Socket.IO server that acks every `echo` with its payload, on the device namespace, as its own process. */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { DEVICE_NAMESPACE } from '@edgeswarm/shared';
/** As the hub's Socket.IO server (src/app.ts), without loading the hub. */
const MAX_SOCKET_MESSAGE_BYTES = 8 * 1024 * 1024;

const port = Number(process.argv[2] ?? 0);
const http = createServer();
const io = new Server(http, { serveClient: false, maxHttpBufferSize: MAX_SOCKET_MESSAGE_BYTES });
io.of(DEVICE_NAMESPACE).on('connection', (socket) => {
  socket.emit('hub:welcome', {});
  socket.on('echo', (payload: unknown, ack: unknown) => {
    if (typeof ack === 'function') (ack as (res: unknown) => void)(payload);
  });
});
http.listen(port, '127.0.0.1', () => console.log(`echo server listening on ${port}`));
const stop = (): void => {
  void io.close();
  http.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
