/**
 * The dashboard: a prebuilt single-page app (plain ES modules, CSS and one HTML page in
 * `./assets`, shipped as-is) served by the router at `<mount>/ui/`. It reads the REST API
 * with relative URLs, so it works under any mount path, and carries the same bearer token.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Request, type Response, type NextFunction } from 'express';
import type { RouterExtension } from '../http/router';

/**
 * Served with every dashboard file. No inline script or style is allowed: the page's code is
 * its own files, and data is only ever written as text, so an injected task name cannot run.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Options of {@link createDashboardExtension}. */
export interface DashboardOptions {
  /** Serve the dashboard. Default true; false gives an extension with no routes. */
  enabled?: boolean;
  /** Where the files are. Default `assets` next to this module (lib/ under tsx, dist/ built). */
  assetsDir?: string;
}

function setSecurityHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
}

/**
 * The dashboard as a router extension: `GET /ui` redirects to `/ui/`, which serves the page;
 * `/ui/*` serves its scripts and styles. The files need no authentication (they hold no
 * data); every API call the page makes carries the token the user pasted, and the API checks it.
 */
export function createDashboardExtension(options: DashboardOptions = {}): RouterExtension {
  if (options.enabled === false) return { operations: [], mount: () => {} };
  const assetsDir = options.assetsDir ?? join(__dirname, 'assets');
  const indexFile = join(assetsDir, 'index.html');
  const files = express.static(assetsDir, {
    index: false,
    // The file names carry no hash, so the browser revalidates (ETag) instead of caching blindly.
    maxAge: 0,
    fallthrough: true,
    setHeaders: setSecurityHeaders,
  });

  const servePage = (req: Request, res: Response, next: NextFunction) => {
    const [path, query] = req.originalUrl.split('?');
    // The page's URLs are relative ("app.js", "../tasks"): it must be served with the slash.
    if (!path.endsWith('/')) {
      res.redirect(301, `${path}/${query ? `?${query}` : ''}`);
      return;
    }
    if (!existsSync(indexFile)) {
      next(new Error(`Tasker dashboard files are missing from ${assetsDir}`));
      return;
    }
    setSecurityHeaders(res);
    res.setHeader('Cache-Control', 'no-cache');
    // With `root`, only the file name is checked for dot segments: an absolute path would be
    // refused under any dot directory (pnpm's node_modules/.pnpm, ~/.nvm).
    res.sendFile('index.html', { root: assetsDir }, (err?: Error & { status?: number }) => {
      if (err) next(err.status === 404 ? undefined : err);
    });
  };

  return {
    operations: [
      {
        method: 'get',
        path: '/ui/',
        summary: 'Dashboard (an HTML page that loads its scripts and styles from /ui/)',
        tag: 'Dashboard',
        contentType: 'text/html',
        secured: false,
      },
    ],
    mount(router) {
      router.use('/ui', (req, res, next) => {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          next();
          return;
        }
        if (req.path === '/') servePage(req, res, next);
        else files(req, res, next);
      });
    },
  };
}
