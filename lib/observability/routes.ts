import type { Request } from 'express';
import type { ExtraOperation } from '../http/openapi';
import { ROUTES } from '../http/routes';

/** Path prefixes (relative to the mount point) that Tasker answers; the rest is the host's. */
const OWN_PREFIXES = ['/handlers', '/tasks', '/api-docs', '/health', '/metrics', '/ui'];

/** True for paths Tasker serves (so host routes behind a root mount are left alone). */
export function isOwnPath(path: string): boolean {
  return OWN_PREFIXES.some(
    (p) => path === p || path.startsWith(`${p}/`) || (p === '/api-docs' && path === `${p}.json`),
  );
}

interface Pattern {
  method: string;
  path: string;
  re: RegExp;
}

function compile(method: string, path: string): Pattern {
  const body = path
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return { method: method.toUpperCase(), path, re: new RegExp(`^${body}/?$`) };
}

/**
 * Names the route template of a request for metrics and span names, so labels stay few:
 * `/tasks/:id`, never `/tasks/6f1c...`. Works for requests answered before routing (401, 429).
 */
export function createRouteNamer(extra: ExtraOperation[]): (req: Request, path: string) => string {
  const patterns = [
    ...ROUTES.map((r) => compile(r.method, r.path)),
    ...extra.map((o) => compile(o.method, o.path)),
    compile('get', '/api-docs.json'),
  ];
  return (req, path) => {
    const routed = (req.route as { path?: unknown } | undefined)?.path;
    if (typeof routed === 'string') return routed;
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const hit =
      patterns.find((p) => p.method === method && p.re.test(path)) ??
      patterns.find((p) => p.re.test(path));
    if (hit) return hit.path;
    for (const prefix of ['/api-docs', '/ui']) {
      if (path === prefix || path.startsWith(`${prefix}/`)) return prefix;
    }
    return 'unmatched';
  };
}
