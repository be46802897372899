import type { Knex } from 'knex';
import type { Logger } from '../types';

/** The prefix of the Postgres channel idle workers listen on. */
export const CHANNEL = 'tasker_engine';

/**
 * The channel for this Knex instance's schema (`tasker_engine_<schema>`): installations in
 * different schemas of one database must not wake each other's workers.
 */
export function channelFor(knex: Knex): string {
  const sp = (knex.client.config as { searchPath?: string | string[] } | undefined)?.searchPath;
  const schema = (Array.isArray(sp) ? sp[0] : sp?.split(',')[0]) ?? 'public';
  const safe = schema
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');
  return `${CHANNEL}_${safe}`.slice(0, 63);
}

/** A wake-up sent between processes. */
export type Notice = { kind: 'ready' } | { kind: 'cancel'; taskId: string };

/**
 * Cross-process wake-ups over Postgres LISTEN/NOTIFY. One dedicated connection listens; when it
 * breaks (a database restart) it reconnects with backoff, and the workers' poll covers the gap.
 */
export class PgNotifier {
  private conn: any = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly channel: string;
  private connecting: any = null;
  private retryDelay = 250;

  constructor(
    private readonly knex: Knex,
    private readonly onNotice: (n: Notice) => void,
    private readonly logger: Logger,
  ) {
    this.channel = channelFor(knex);
  }

  /** Starts listening; resolves once the first LISTEN succeeded or failed (then it retries). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      // A client of its own, outside the pool: LISTEN holds its connection for as long as the
      // worker runs, which would starve a small pool (max 1 would deadlock the engine).
      const client = this.knex.client as {
        driver: { Client: new (c: unknown) => any };
        connectionSettings: unknown;
      };
      const settings =
        typeof client.connectionSettings === 'string'
          ? { connectionString: client.connectionSettings }
          : (client.connectionSettings as Record<string, unknown>);
      // Bounded connect: a half-open path must not leave a connect pending (and the process
      // alive) forever.
      const conn = new client.driver.Client({ connectionTimeoutMillis: 5000, ...settings });
      this.connecting = conn;
      // An error before the handlers below are attached must not become an uncaught 'error'.
      conn.on('error', () => {});
      try {
        await conn.connect();
      } catch (err) {
        await conn.end().catch(() => {});
        throw err;
      } finally {
        this.connecting = null;
      }
      if (this.stopped) {
        await conn.end().catch(() => {});
        return;
      }
      this.conn = conn;
      conn.on('notification', (msg: { channel: string; payload?: string }) => {
        if (msg.channel !== this.channel) return;
        const p = msg.payload ?? '';
        if (p.startsWith('cancel:')) this.onNotice({ kind: 'cancel', taskId: p.slice(7) });
        else this.onNotice({ kind: 'ready' });
      });
      const broken = (err?: unknown) => {
        if (this.conn !== conn) return;
        this.logger.warn({ err }, 'notification connection lost; reconnecting');
        this.conn = null;
        conn.end().catch(() => {});
        this.scheduleReconnect();
      };
      conn.on('error', broken);
      conn.on('end', broken);
      // A listener on a half-open connection would hear nothing forever: ping it, and drop the
      // socket when a ping gets no answer (then the poll covers the gap until we reconnect).
      const stream = conn.connection?.stream;
      if (stream && typeof stream.setTimeout === 'function') {
        stream.setTimeout(15_000);
        stream.on('timeout', () => {
          if (conn._activeQuery) stream.destroy(new Error('LISTEN connection stopped answering'));
        });
      }
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => {
        conn.query('SELECT 1').catch(broken);
      }, 10_000);
      this.pingTimer.unref();
      await conn.query(`LISTEN ${this.channel}`);
      this.retryDelay = 250;
      // A wake-up may have been missed while disconnected.
      this.onNotice({ kind: 'ready' });
    } catch (err) {
      this.logger.warn({ err }, 'could not LISTEN for notifications; will retry');
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, this.retryDelay);
    this.retryTimer.unref();
    this.retryDelay = Math.min(this.retryDelay * 2, 5000);
  }

  /** Sends a notice to every listening process (this one included). */
  async notify(n: Notice): Promise<void> {
    const payload = n.kind === 'cancel' ? `cancel:${n.taskId}` : 'ready';
    await this.knex.raw('SELECT pg_notify(?, ?)', [this.channel, payload]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.connecting?.end().catch(() => {});
    const conn = this.conn;
    this.conn = null;
    if (conn) {
      // Closing the session ends the LISTEN; wait for a clean goodbye at most a second (the
      // server may be unreachable), then drop the socket so nothing keeps the process alive.
      await Promise.race([
        conn.end().catch(() => {}),
        new Promise((r) => setTimeout(r, 1000).unref()),
      ]);
      conn.connection?.stream?.destroy?.();
    }
  }
}
