/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) on the demo's
 * data: each view, a task coloured live as it runs, and the screenshots in docs/img/.
 * The actions (cancel, retry), auth and Swagger UI are in dashboard.actions.test.ts.
 */
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Tasker } from '../../lib';
import {
  contextWithToken,
  launchChromium,
  requireChromium,
  screenshot,
  startDemo,
  watchConsole,
  type RunningDemo,
} from './harness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates a mix of tasks (some fail, some are cancelled) and waits until all have settled. */
async function seed(tasker: Tasker): Promise<void> {
  const ids: string[] = [];
  for (let i = 0; i < 36; i++) {
    const t = await tasker.createTask({
      namespace: 'payments',
      name: 'process_payment',
      // Above the single-charge limit validation fails for good: the task ends in error.
      context: { payment_id: 1000 + i, amount: i % 9 === 4 ? 50_000 : 20 + i },
    });
    ids.push(t.id);
  }
  for (let i = 0; i < 8; i++) {
    ids.push(
      (
        await tasker.createTask({
          namespace: 'inventory',
          name: 'process_order',
          context: { order_id: 500 + i },
        })
      ).id,
    );
    ids.push(
      (
        await tasker.createTask({
          namespace: 'notifications',
          name: 'send_email',
          context: { to: `user${i}@example.com` },
        })
      ).id,
    );
  }
  for (const id of ids.slice(-3)) await tasker.engine.cancelTask(id);
  const deadline = Date.now() + 45_000;
  for (const id of ids) {
    while (!['complete', 'error', 'cancelled'].includes((await tasker.getTask(id)).status)) {
      if (Date.now() > deadline) throw new Error(`seed task ${id} did not settle`);
      await sleep(50);
    }
  }
}

/**
 * Text contrast of every badge and count card, per WCAG 2 relative luminance. A string, since
 * tsx would wrap named functions in a helper that does not exist in the page.
 */
const CONTRAST_SCRIPT = `(() => {
  const lum = (css) => {
    const [r, g, b] = (css.match(/[\\d.]+/g) || []).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  return [...document.querySelectorAll('.badge, .count')].map((el) => {
    const style = getComputedStyle(el);
    const [a, b] = [lum(style.color), lum(style.backgroundColor)].sort((x, y) => y - x);
    return { what: el.textContent, ratio: (a + 0.05) / (b + 0.05) };
  });
})()`;

describe('dashboard (browser)', function () {
  this.timeout(90_000);
  let running: RunningDemo;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let savedSpeed: string | undefined;

  before(async function () {
    requireChromium(this);
    savedSpeed = process.env.TASKER_DEMO_SPEED;
    process.env.TASKER_DEMO_SPEED = '20';
    running = await startDemo();
    browser = await launchChromium();
    await seed(running.demo.tasker);
  });
  after(async () => {
    await browser?.close();
    await running?.close();
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

  it('serves the page with a strict Content-Security-Policy, and /ui redirects to /ui/', async () => {
    const res = await fetch(`${running.origin}/tasker/ui`, { redirect: 'manual' });
    expect(res.status).to.equal(301);
    expect(res.headers.get('location')).to.equal('/tasker/ui/');
    const html = await fetch(running.dashboard);
    expect(html.status).to.equal(200);
    const csp = html.headers.get('content-security-policy') ?? '';
    expect(csp).to.include("default-src 'self'").and.include("script-src 'self'");
    expect(csp).to.not.include('unsafe-inline');
    expect(await html.text()).to.not.match(/<script(?![^>]*\bsrc=)[^>]*>/);
    // The files need no token; the API calls do.
    expect((await fetch(`${running.dashboard}app.js`)).status).to.equal(200);
    expect((await fetch(`${running.origin}/tasker/tasks`)).status).to.equal(401);
  });

  it('lists the namespaces, their handlers and versions', async () => {
    await page.goto(`${running.dashboard}#/handlers`);
    const sections = page.locator('section.namespace');
    await sections.first().waitFor();
    const names = await sections.evaluateAll((els) =>
      els.map((e) => (e as HTMLElement).dataset.namespace),
    );
    expect(names).to.have.members(['payments', 'inventory', 'notifications']);
    const payments = page.locator('section[data-namespace="payments"]');
    await payments.getByRole('link', { name: 'process_payment', exact: true }).waitFor();
    // Both versions of process_payment are listed, each with a link.
    for (const v of ['1.0.0', '2.1.0']) {
      await payments.getByRole('link', { name: `process_payment version ${v}` }).waitFor();
    }
    await screenshot(page, 'dashboard-handlers', true);
  });

  it("draws process_payment's DAG with each step's retry policy and events", async () => {
    await page.goto(`${running.dashboard}#/handlers/payments/process_payment`);
    await page.locator('svg.dag .dag-node').first().waitFor();
    expect(await page.locator('h1').textContent()).to.equal('payments.process_payment@2.1.0');
    expect(await page.locator('svg.dag .dag-node').count()).to.equal(4);
    expect(await page.locator('svg.dag .dag-edge').count()).to.equal(3);
    const edges = await page
      .locator('svg.dag .dag-edge')
      .evaluateAll((els) =>
        els.map((e) => `${(e as SVGElement).dataset.from}>${(e as SVGElement).dataset.to}`),
      );
    expect(edges).to.deep.equal([
      'validate_payment>charge_card',
      'charge_card>update_order',
      'update_order>send_confirmation',
    ]);
    expect(await page.locator('svg.dag .dag-edge').first().getAttribute('marker-end')).to.match(
      /^url\(#/,
    );
    const row = page.locator('#step-templates tr[data-step="charge_card"]');
    expect(await row.textContent())
      .to.include('Up to 3 retries (4 attempts)')
      .and.include('payment.gateway.charged');
    expect(
      await page.locator('#step-templates tr[data-step="validate_payment"]').textContent(),
    ).to.include('No retry (1 attempt)');

    // The version selector moves to 1.0.0 (three steps); a diamond draws parallel steps in one column.
    await page.selectOption('#handler-version', '1.0.0');
    await page.waitForFunction(() => document.querySelector('h1')?.textContent?.endsWith('@1.0.0'));
    await page.goto(`${running.dashboard}#/handlers/inventory/process_order`);
    const reserve = page.locator('.dag-node[data-step="reserve_stock"]');
    await reserve.waitFor();
    const x = (t: string | null) => t?.match(/translate\(([\d.]+)/)?.[1];
    const shipping = await page
      .locator('.dag-node[data-step="calculate_shipping"]')
      .getAttribute('transform');
    expect(x(await reserve.getAttribute('transform'))).to.equal(x(shipping));
    await screenshot(page, 'dashboard-handler-dag');
  });

  it('shows counts by status, the task table, a status filter and pagination', async () => {
    const total = (await running.demo.tasker.storage.listTasks({}, 1, 1)).totalCount;
    await page.goto(`${running.dashboard}#/tasks`);
    await page.locator('#tasks-table').waitFor();
    const count = (s: string) => page.locator(`.count[data-status="${s}"] .count-value`);
    await page.waitForFunction(() =>
      [...document.querySelectorAll('.count-value')].every((e) => /^\d/.test(e.textContent ?? '')),
    );
    expect(await count('all').textContent()).to.equal(String(total));
    expect(Number(await count('error').textContent())).to.be.greaterThan(0);
    expect(Number(await count('cancelled').textContent())).to.equal(3);
    expect(await page.locator('#tasks-table tbody tr').count()).to.equal(25);
    const headers = await page.locator('#tasks-table thead th').allTextContents();
    expect(headers).to.deep.equal([
      'Task',
      'Status',
      'Namespace',
      'Handler',
      'Version',
      'Created',
      'Duration',
    ]);
    await screenshot(page, 'dashboard-tasks');

    // Every control has a label, and text on the status colours meets WCAG AA (4.5:1).
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select')]
        .filter((c) => (c as HTMLInputElement).labels?.length === 0)
        .map((c) => c.id),
    );
    expect(unlabelled).to.deep.equal([]);
    const ratios: { what: string; ratio: number }[] = await page.evaluate(CONTRAST_SCRIPT);
    expect(ratios.length).to.be.at.least(7);
    for (const { what, ratio } of ratios) expect(ratio, `contrast of ${what}`).to.be.at.least(4.5);

    // Pagination: page 2 holds the next tasks, and the hash says so.
    // Pagination by keyboard: Enter on "Next", and focus stays on it for the next page.
    const firstPageIds = await page
      .locator('#tasks-table tbody tr')
      .evaluateAll((r) => r.map((e) => (e as HTMLElement).dataset.taskId));
    await page.focus('#page-next');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash.includes('page=2'));
    await page.waitForFunction(() => document.activeElement?.id === 'page-next');
    await page.locator('#tasks-summary', { hasText: 'page 2 of' }).waitFor();
    const secondPageIds = await page
      .locator('#tasks-table tbody tr')
      .evaluateAll((r) => r.map((e) => (e as HTMLElement).dataset.taskId));
    expect(secondPageIds.length).to.be.greaterThan(0);
    expect(secondPageIds.filter((id) => firstPageIds.includes(id))).to.deep.equal([]);

    // Filter by status with the form: only error tasks remain, and the count card is current.
    await page.selectOption('#f-status', 'error');
    await page.click('#filters-apply');
    await page.waitForFunction(
      () => location.hash.includes('status=error') && !location.hash.includes('page=2'),
    );
    await page.locator('#tasks-table').waitFor();
    const statuses = await page
      .locator('#tasks-table tbody tr')
      .evaluateAll((r) => r.map((e) => (e as HTMLElement).dataset.status));
    expect(statuses.length).to.equal(Number(await count('error').textContent()));
    expect(new Set(statuses)).to.deep.equal(new Set(['error']));
    expect(await page.locator('.count[data-status="error"]').getAttribute('aria-current')).to.equal(
      'true',
    );

    // The count cards are links to the same filter.
    await page.click('.count[data-status="cancelled"]');
    await page.waitForFunction(
      () => document.querySelectorAll('#tasks-table tbody tr').length === 3,
    );
  });

  it('colours a running task’s DAG live until it completes', async () => {
    // Slower, so the steps are seen changing; the page is already loaded when the task starts.
    process.env.TASKER_DEMO_SPEED = '1';
    try {
      await page.goto(`${running.dashboard}#/tasks`);
      await page.locator('#tasks-table').waitFor();
      const task = await running.demo.tasker.createTask({
        namespace: 'inventory',
        name: 'process_order',
        context: { order_id: 42, shipping_method: 'express' },
      });
      await page.evaluate((id) => (location.hash = `#/tasks/${id}`), task.id);
      const last = page.locator('.dag-node[data-step="notify_warehouse"]');
      await last.waitFor();
      const seen = new Set<string>();
      const deadline = Date.now() + 30_000;
      for (;;) {
        const cls = (await last.getAttribute('class')) ?? '';
        seen.add(cls.replace('dag-node', '').trim());
        if (cls.includes('status-complete')) break;
        if (Date.now() > deadline) throw new Error(`notify_warehouse stayed ${cls}`);
        await sleep(50);
      }
      expect(seen).to.include('status-pending');
      await page.locator('#live-state', { hasText: 'Final state' }).waitFor();
      await page.locator('#task-meta .badge.status-complete').waitFor();
      expect(await page.locator('.dag-node.status-complete').count()).to.equal(5);
      expect(await page.locator('.dag-edge').count()).to.equal(5);
      // Steps table, results as collapsible JSON, and the history as a timeline.
      expect(await page.locator('#steps-table tbody tr').count()).to.equal(5);
      const results = page.locator('#step-create_shipment details');
      expect(await results.getAttribute('open')).to.equal(null);
      await results.locator('summary').click();
      expect(await results.locator('pre').textContent()).to.include('{');
      const timeline = await page.locator('#timeline li').allTextContents();
      expect(timeline[0]).to.include('Task created');
      expect(timeline.join('\n')).to.include('create_shipment: In progress → Complete');
      expect(timeline.at(-1)).to.include('Task Complete');
      // No Cancel / Retry on a complete task.
      expect(await page.locator('#task-actions button').count()).to.equal(0);
      await page
        .locator('#step-create_shipment details')
        .evaluate((d) => ((d as HTMLDetailsElement).open = false));
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot(page, 'dashboard-task');
      await page.locator('.dag-node[data-step="reserve_stock"]').press('Enter');
      await page.waitForFunction(() => document.activeElement?.id === 'step-reserve_stock');
    } finally {
      process.env.TASKER_DEMO_SPEED = '20';
    }
  });

  it("shows a failed task's error and blocked steps, and offers Retry and Cancel", async () => {
    const [task] = (
      await running.demo.tasker.storage.listTasks(
        { name: 'process_payment', status: 'error' },
        1,
        1,
      )
    ).tasks;
    await page.goto(`${running.dashboard}#/tasks/${task.id}`);
    await page.locator('.dag-node[data-step="validate_payment"].status-error').waitFor();
    expect(await page.locator('.dag-node.status-pending').count()).to.equal(3);
    expect(await page.locator('#step-validate_payment').textContent()).to.include(
      'exceeds the single-charge limit',
    );
    expect(await page.locator('#task-actions button').allTextContents()).to.deep.equal([
      'Cancel task',
      'Retry failed steps',
    ]);
    expect(await page.locator('#task-analysis').textContent()).to.include('failed permanently');
    await screenshot(page, 'dashboard-task-error');
  });

  it('fits a phone screen (390 px) without horizontal scrolling', async () => {
    const phone = await contextWithToken(browser, running.demo.token, { width: 390, height: 844 });
    try {
      const p = await phone.newPage();
      const pageProblems = watchConsole(p);
      const [task] = (
        await running.demo.tasker.storage.listTasks(
          { name: 'process_order', status: 'complete' },
          1,
          1,
        )
      ).tasks;
      for (const hash of [
        '#/tasks',
        '#/handlers',
        '#/handlers/payments/process_payment',
        `#/tasks/${task.id}`,
      ]) {
        await p.goto(`${running.dashboard}${hash}`);
        await p.locator('main h1').waitFor();
        await p.locator('.message-info').waitFor({ state: 'detached' });
        const overflow = await p.evaluate(
          () => document.documentElement.scrollWidth - window.innerWidth,
        );
        expect(overflow, `horizontal overflow on ${hash}`).to.be.at.most(0);
      }
      await p.goto(`${running.dashboard}#/tasks?per_page=10`);
      await p.locator('#tasks-table').waitFor();
      await screenshot(p, 'dashboard-phone-tasks', true);
      await p.goto(`${running.dashboard}#/tasks/${task.id}`);
      await p.locator('.dag-node').first().waitFor();
      await screenshot(p, 'dashboard-phone');
      expect(pageProblems).to.deep.equal([]);
    } finally {
      await phone.close();
    }
  });
});
