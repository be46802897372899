/**
 * The dashboard's actions and access in a real browser: Cancel and Retry buttons, the token
 * form when authentication is on, a 403 hiding a button, Swagger UI, and the switch that turns
 * the dashboard off.
 */
import { expect } from 'chai';
import express from 'express';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { createTasker, signDevelopmentToken } from '../../lib';
import { DEV_SECRET } from '../../examples/demo/app';
import { silentLogger } from '../../lib/observability/logger';
import type { StepContext } from '../../lib/types';
import { waitForTask } from '../helpers/tasker';
import {
  contextWithToken,
  launchChromium,
  requireChromium,
  startDemo,
  watchConsole,
  type RunningDemo,
} from './harness';

/** A step that fails for good until `exportFixed` flips: the task ends in error, then retries. */
let exportFixed = false;
async function exportReport(_ctx: StepContext) {
  if (!exportFixed) throw new Error('Export target unavailable');
  return { exported: true };
}
const ok = async () => ({ ok: true });

describe('dashboard actions (browser)', function () {
  this.timeout(90_000);
  let running: RunningDemo;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let savedSpeed: string | undefined;
  let speedChanged = false;

  before(async function () {
    requireChromium(this);
    savedSpeed = process.env.TASKER_DEMO_SPEED;
    speedChanged = true;
    process.env.TASKER_DEMO_SPEED = '20';
    running = await startDemo();
    browser = await launchChromium();
    running.demo.tasker.registerNamespace({ name: 'reports', description: 'Reporting' });
    running.demo.tasker.registerHandler({
      namespace: 'reports',
      name: 'nightly_export',
      version: '1.0.0',
      steps: [
        { name: 'collect', handler: ok },
        { name: 'export', dependsOn: 'collect', handler: exportReport, retryable: false },
        { name: 'notify', dependsOn: 'export', handler: ok },
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await running?.close();
    // Skipped (no Chromium): the hook above changed nothing, so nothing is restored (deleting
    // the variable here would turn the demo's random failures on for the test files after).
    if (!speedChanged) return;
    if (savedSpeed === undefined) delete process.env.TASKER_DEMO_SPEED;
    else process.env.TASKER_DEMO_SPEED = savedSpeed;
  });
  beforeEach(async () => {
    context = await contextWithToken(browser, running.demo.token);
    page = await context.newPage();
    problems = watchConsole(page);
  });
  afterEach(async () => {
    await context?.close();
    expect(problems, 'page errors and CSP violations').to.deep.equal([]);
  });

  it('cancels a long-running task with the Cancel button', async () => {
    // 50 times slower than the demo's normal pace: the first steps take seconds.
    process.env.TASKER_DEMO_SPEED = '0.02';
    try {
      const task = await running.demo.tasker.createTask({
        namespace: 'payments',
        name: 'process_payment',
        context: { payment_id: 77 },
      });
      await page.goto(`${running.dashboard}#/tasks/${task.id}`);
      const cancel = page.getByRole('button', { name: 'Cancel task' });
      await cancel.waitFor();
      expect(await page.getByRole('button', { name: 'Retry failed steps' }).count()).to.equal(0);
      page.once('dialog', (d) => void d.accept());
      await cancel.click();
      await page.locator('#task-meta .badge.status-cancelled').waitFor();
      await page.locator('#action-message', { hasText: 'The task was cancelled.' }).waitFor();
      await page.locator('#live-state', { hasText: 'Final state' }).waitFor();
      expect(await cancel.count()).to.equal(0);
      expect(await page.locator('.dag-node.status-cancelled').count()).to.be.greaterThan(0);
      expect((await running.demo.tasker.getTask(task.id)).status).to.equal('cancelled');
    } finally {
      process.env.TASKER_DEMO_SPEED = '20';
    }
  });

  it('retries a failed task with the Retry button and watches it complete', async () => {
    exportFixed = false;
    const task = await running.demo.tasker.createTask({
      namespace: 'reports',
      name: 'nightly_export',
    });
    await waitForTask(running.demo.tasker, task.id, ['error']);
    await page.goto(`${running.dashboard}#/tasks/${task.id}`);
    const retry = page.getByRole('button', { name: 'Retry failed steps' });
    await retry.waitFor();
    await page.locator('.dag-node[data-step="export"].status-error').waitFor();
    expect(await page.locator('#step-export').textContent()).to.include(
      'Export target unavailable',
    );
    // An error task can also be cancelled; both buttons are offered.
    expect(await page.getByRole('button', { name: 'Cancel task' }).count()).to.equal(1);

    exportFixed = true;
    await retry.click();
    await page
      .locator('.dag-node[data-step="notify"].status-complete')
      .waitFor({ timeout: 15_000 });
    await page.locator('#task-meta .badge.status-complete').waitFor();
    expect(await page.locator('#task-actions button').count()).to.equal(0);
    const timeline = (await page.locator('#timeline').textContent()) ?? '';
    expect(timeline).to.include('export: Error → Pending');
  });

  it('hides a button the API refuses with 403, and says why', async () => {
    exportFixed = false;
    const task = await running.demo.tasker.createTask({
      namespace: 'reports',
      name: 'nightly_export',
    });
    await waitForTask(running.demo.tasker, task.id, ['error']);
    const readOnly = signDevelopmentToken(DEV_SECRET, {
      sub: 'viewer',
      permissions: [
        'tasker.handler:*',
        'tasker.task:index',
        'tasker.task:show',
        'tasker.workflow_step:*',
      ],
    });
    const viewer = await contextWithToken(browser, readOnly);
    try {
      const p = await viewer.newPage();
      const viewerProblems = watchConsole(p);
      await p.goto(`${running.dashboard}#/tasks/${task.id}`);
      const retry = p.getByRole('button', { name: 'Retry failed steps' });
      await retry.click();
      await p.locator('#action-message', { hasText: 'Not allowed' }).waitFor();
      expect(await p.locator('#action-message').textContent()).to.include('tasker.task:retry');
      await retry.waitFor({ state: 'detached' });
      expect((await running.demo.tasker.getTask(task.id)).status).to.equal('error');
      expect(viewerProblems).to.deep.equal([]);
    } finally {
      await viewer.close();
    }
  });

  it('asks for a token when authentication is on, and loads the data once it is pasted', async () => {
    const fresh = await browser.newContext();
    try {
      const p = await fresh.newPage();
      const freshProblems = watchConsole(p);
      await p.goto(`${running.dashboard}#/handlers`);
      const input = p.getByLabel('API token');
      await input.waitFor();
      await p.locator('main', { hasText: 'Authentication is required' }).waitFor();

      // A wrong token is rejected with the API's message, and not kept.
      await input.fill('not-a-valid-token');
      await p.getByRole('button', { name: 'Use token' }).click();
      await p.locator('#token-error', { hasText: 'The token was rejected' }).waitFor();
      expect(await p.evaluate(() => sessionStorage.getItem('tasker.token'))).to.equal(null);

      await input.fill(running.demo.token);
      await input.press('Enter');
      await p.locator('section[data-namespace="payments"]').waitFor();
      expect(await p.locator('#token-form').isHidden()).to.equal(true);
      expect(await p.evaluate(() => sessionStorage.getItem('tasker.token'))).to.equal(
        running.demo.token,
      );

      // "Forget token" asks again.
      await p.getByRole('button', { name: 'Forget token' }).click();
      await input.waitFor();
      expect(await p.evaluate(() => sessionStorage.getItem('tasker.token'))).to.equal(null);
      expect(freshProblems).to.deep.equal([]);
    } finally {
      await fresh.close();
    }
  });

  it('renders Swagger UI at /tasker/api-docs/ with the operations', async () => {
    await page.goto(`${running.origin}/tasker/api-docs/`);
    await page.locator('.swagger-ui .opblock').first().waitFor();
    const paths = await page.locator('.swagger-ui .opblock-summary-path').allTextContents();
    const clean = paths.map((p) => p.replace(/\u200b/g, ''));
    expect(clean).to.include.members(['/handlers', '/tasks', '/tasks/{id}', '/ui/']);
  });
});

describe('dashboard switch', () => {
  const storage = { client: 'better-sqlite3', connection: { filename: ':memory:' } };

  it('is served at /ui/ by default and answers 404 when dashboard.enabled is false', async () => {
    for (const enabled of [true, false]) {
      const tasker = createTasker({
        storage,
        logger: silentLogger,
        worker: { enabled: false },
        dashboard: { enabled },
      });
      try {
        await tasker.ready;
        const app = express().use('/tasker', tasker);
        const res = await request(app).get('/tasker/ui/');
        if (enabled) {
          expect(res.status).to.equal(200);
          expect(res.type).to.equal('text/html');
          const doc = await request(app).get('/tasker/api-docs.json');
          expect(doc.body.paths).to.have.property('/ui/');
        } else {
          expect(res.status).to.equal(404);
          expect(res.body.error.code).to.equal('ROUTE_NOT_FOUND');
        }
      } finally {
        await tasker.close();
      }
    }
  });
});
