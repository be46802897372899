import { Agent, request as httpRequest } from 'node:http';

/** One HTTP exchange as the reliability clients see it. */
export interface Exchange {
  /** HTTP status, or 0 when no answer came (connection error or client timeout). */
  status: number;
  body: unknown;
  /** Round trip in ms. */
  ms: number;
  /** Why no answer came (`timeout`, `ECONNRESET`, ...). */
  error?: string;
}

/** A keep-alive HTTP client with a hard per-request timeout, so a hang shows as `timeout`. */
export class Client {
  private readonly agent: Agent;

  constructor(
    private readonly base: string,
    private readonly headers: Record<string, string> = {},
    maxSockets = 64,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  request(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 15_000,
    headers: Record<string, string> = {},
  ): Promise<Exchange> {
    const started = performance.now();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve) => {
      let done = false;
      const finish = (x: Omit<Exchange, 'ms'>) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ ...x, ms: performance.now() - started });
      };
      const req = httpRequest(
        `${this.base}${path}`,
        {
          method,
          agent: this.agent,
          headers: {
            ...this.headers,
            ...headers,
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': payload.length }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => finish({ status: 0, body: null, error: err.message }));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text === '' ? null : JSON.parse(text);
            } catch {
              // Not JSON: keep the text, the caller's envelope check will flag it.
            }
            finish({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      const timer = setTimeout(() => {
        finish({ status: 0, body: null, error: 'timeout' });
        req.destroy();
      }, timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) =>
        finish({ status: 0, body: null, error: err.code ?? err.message }),
      );
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** True when `body` is the API's error envelope `{ error: { type, message, code } }`. */
export function isEnvelope(body: unknown): boolean {
  const e = (body as { error?: Record<string, unknown> } | null)?.error;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.type === 'string' &&
    typeof e.message === 'string' &&
    typeof e.code === 'string'
  );
}

/** The `code` of an error envelope, or undefined. */
export function codeOf(body: unknown): string | undefined {
  return (body as { error?: { code?: string } } | null)?.error?.code;
}
