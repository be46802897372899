import {
  createConnection,
  createServer,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net';

/** How the proxy treats traffic. */
export type ProxyMode = 'up' | 'down' | 'half-open';

interface Pair {
  client: Socket;
  upstream: Socket | null;
  /** Set when the pair was caught by a half-open cut: it never carries a byte again. */
  silent: boolean;
}

/**
 * A TCP proxy in front of Postgres that can fail the way networks do:
 *
 * - `down()`: every connection is reset (RST) and new ones are reset at once, as when the
 *   database host restarts or a firewall rejects.
 * - `halfOpen()`: nothing is forwarded any more, but no socket is closed: the client keeps
 *   connections whose peer has gone (the server side is closed, releasing its locks), and new
 *   connections are accepted and then never answered. Queries in flight wait forever unless the
 *   client has timeouts of its own. After `up()`, a silent connection the client writes to is
 *   reset (as a real server answers an unknown connection), one it only waits on stays silent.
 * - `up()`: new connections are forwarded again.
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<Pair>();
  private modeNow: ProxyMode = 'up';
  /** Connections accepted so far. */
  accepted = 0;

  constructor(
    private readonly target: { host: string; port: number },
    private readonly listenHost = '127.0.0.1',
  ) {}

  get mode(): ProxyMode {
    return this.modeNow;
  }

  /** Starts listening on a free port and returns it. */
  async listen(): Promise<number> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.listenHost, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  private accept(client: Socket): void {
    this.accepted++;
    client.on('error', () => {});
    if (this.modeNow === 'down') {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, upstream: null, silent: this.modeNow === 'half-open' };
    this.pairs.add(pair);
    client.on('close', () => {
      this.pairs.delete(pair);
      pair.upstream?.destroy();
    });
    if (pair.silent) {
      this.silence(pair);
      return;
    }
    const upstream = createConnection(this.target);
    pair.upstream = upstream;
    upstream.on('error', () => {});
    upstream.on('close', () => {
      if (!pair.silent) client.destroy();
    });
    client.on('data', (d: Buffer) => {
      if (!pair.silent) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!pair.silent) client.write(d);
    });
  }

  private silence(pair: Pair): void {
    pair.silent = true;
    const up = pair.upstream;
    pair.upstream = null;
    up?.destroy();
    pair.client.removeAllListeners('data');
    pair.client.on('data', () => {
      // Once the network is back, the server answers a stray segment with a reset.
      if (this.modeNow === 'up') pair.client.resetAndDestroy();
    });
  }

  /** Resets every connection and refuses new ones. */
  down(): void {
    this.modeNow = 'down';
    for (const p of [...this.pairs]) {
      p.silent = true;
      p.upstream?.resetAndDestroy();
      p.client.resetAndDestroy();
      this.pairs.delete(p);
    }
  }

  /** Stops forwarding without closing anything on the client's side. */
  halfOpen(): void {
    this.modeNow = 'half-open';
    for (const p of this.pairs) if (!p.silent) this.silence(p);
  }

  /** Forwards new connections again. */
  up(): void {
    this.modeNow = 'up';
  }

  /** Connections open on the client's side, and how many of them are silent. */
  counts(): { open: number; silent: number } {
    let silent = 0;
    for (const p of this.pairs) if (p.silent) silent++;
    return { open: this.pairs.size, silent };
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    for (const p of [...this.pairs]) {
      p.upstream?.destroy();
      p.client.destroy();
    }
    this.pairs.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
