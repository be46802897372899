/**
 * What the dashboard's browser tests share: Debian's Chromium driven by playwright-core, and
 * the demo app (examples/demo) listening on an ephemeral port.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createDemoApp, type DemoApp } from '../../examples/demo/app';
import { silentLogger } from '../../lib/observability/logger';
import { tempDir } from '../helpers/databases';

/** The browser the tests drive: Debian's package (`.ci/install-browser` installs it). */
export const CHROMIUM = process.env.TASKER_CHROMIUM ?? '/usr/bin/chromium';

/** Where the screenshots the README shows are written. */
export const IMG_DIR = join(__dirname, '..', '..', 'docs', 'img');

/**
 * For a `before` hook: skips the suite when Chromium is missing on a developer machine, and
 * fails it in CI (`CI` set), where a missing browser must never pass silently.
 */
export function requireChromium(ctx: Mocha.Context): void {
  if (existsSync(CHROMIUM)) return;
  const hint = `${CHROMIUM} not found; install it with .ci/install-browser (apt-get install chromium)`;
  if (process.env.CI) throw new Error(`Dashboard browser tests need Chromium: ${hint}`);
  console.warn(`    Skipping the dashboard browser tests: ${hint}.`);
  ctx.skip();
}

/** Launches headless Chromium with everything that could reach the network switched off. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/** The demo app served over HTTP. */
export interface RunningDemo {
  demo: DemoApp;
  /** e.g. `http://127.0.0.1:40123` */
  origin: string;
  /** The dashboard's URL: `<origin>/tasker/ui/`. */
  dashboard: string;
  close(): Promise<void>;
}

/** Starts the demo app (JWT auth and authorization on) on a temp SQLite file and port 0. */
export async function startDemo(): Promise<RunningDemo> {
  const demo = await createDemoApp({
    storage: join(tempDir(), 'dashboard.sqlite'),
    logger: silentLogger,
  });
  const server: Server = demo.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    demo,
    origin,
    dashboard: `${origin}/tasker/ui/`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await demo.close();
    },
  };
}

/** A browser context whose pages start with `token` already pasted (sessionStorage). */
export async function contextWithToken(
  browser: Browser,
  token: string,
  viewport = { width: 1280, height: 860 },
): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  await context.addInitScript((t) => sessionStorage.setItem('tasker.token', t), token);
  return context;
}

/** Collects uncaught page errors and CSP violations, so a test can assert there were none. */
export function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error' && !/status of (401|403|404|409)/.test(text)) {
      problems.push(`console: ${text}`);
    }
  });
  return problems;
}

/**
 * Writes `docs/img/<name>.png` when `TASKER_SCREENSHOTS=1` (`npm run screenshots`), so that an
 * ordinary test run leaves the committed images alone.
 */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  if (process.env.TASKER_SCREENSHOTS !== '1') return;
  mkdirSync(IMG_DIR, { recursive: true });
  await page.screenshot({ path: join(IMG_DIR, `${name}.png`), fullPage, animations: 'disabled' });
}
