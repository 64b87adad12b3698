import net from 'node:net';

/**
 * A loopback port that was free a moment ago: to listen on (a bot's PORT) or, since nothing
 * listens there now, to point a client at a closed port (fetch refuses "bad ports" such as 1).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
