// The web console in a real browser: Debian's Chromium driven by playwright-core (no browser
// of playwright's own), against a real `annal serve` over HTTPS with simulated devices that
// answer pushes. Started by tests/console_browser.rs, which passes everything through the
// environment:
//
//   ANNAL_URL            the server (its certificate is self-signed by Annal's CA: accepted)
//   ANNAL_ADMIN_KEY      an admin key, named ANNAL_ADMIN_NAME
//   ANNAL_AUDITOR_KEY    an auditor key
//   ANNAL_DEVICE_UDID    a listening simulated device, ANNAL_DEVICE_SERIAL its serial number
//   ANNAL_HOSTILE_UDID   a device whose DeviceName is <img src=x onerror=alert(1)>
//   PLAYWRIGHT_CORE      the directory holding node_modules/playwright-core
//   CHROMIUM             the browser to launch (/usr/bin/chromium)
//   ANNAL_SCREENSHOTS    when set, a directory to save PNGs of the main pages in
//
// Each step prints `ok: <step>`; the first failure prints `FAIL: <step>: <why>` and exits 1.
// Any dialog (alert), page error or console error (a CSP violation is one) fails the run.

import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.log(`FAIL: setup: ${name} is not set`);
    process.exit(1);
  }
  return value;
};

const BASE = env('ANNAL_URL');
const ADMIN_KEY = env('ANNAL_ADMIN_KEY');
const ADMIN_NAME = env('ANNAL_ADMIN_NAME');
const AUDITOR_KEY = env('ANNAL_AUDITOR_KEY');
const UDID = env('ANNAL_DEVICE_UDID');
const SERIAL = env('ANNAL_DEVICE_SERIAL');
const HOSTILE_UDID = env('ANNAL_HOSTILE_UDID');
const HOSTILE = '<img src=x onerror=alert(1)>';
/// The name the hostile device answers DeviceInformation with, while its page is open.
const HOSTILE_ANSWER = '"><svg onload=alert(2)>';
const SHOTS = process.env.ANNAL_SCREENSHOTS || '';
const REASON = 'Reported lost on the train (browser test)';
/// How long any one thing may take to show.
const WAIT = 15000;

const require = createRequire(join(env('PLAYWRIGHT_CORE'), 'node_modules') + '/');
const { chromium } = require('playwright-core');

/// Asks the test (tests/console_browser.rs) to make something happen on the server side, and
/// waits until it says it has: `need: <what>` out, a line back on stdin.
const answers = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(what) {
  console.log(`need: ${what}`);
  const { done } = await answers.next();
  check(!done, `the test did not answer ${what}`);
}

const problems = [];
/// Paths a step expects to be refused (the browser logs a refused fetch as a console error).
const refusalsExpected = new Set();
let step = 'setup';

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

async function run(name, body) {
  step = name;
  await body();
  check(problems.length === 0, `the browser reported: ${problems.join(' | ')}`);
  console.log(`ok: ${name}`);
}

async function shot(page, name) {
  if (SHOTS) {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
  }
}

/// A page that fails the run on any dialog, page error or console error.
async function watched(context) {
  const page = await context.newPage();
  page.on('dialog', async (dialog) => {
    problems.push(`a ${dialog.type()} dialog opened: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    const refused = message.text().startsWith('Failed to load resource') && message.location().url;
    if (refused && refusalsExpected.has(new URL(message.location().url).pathname)) {
      return;
    }
    if (message.type() === 'error') {
      problems.push(`console error: ${message.text()} (${JSON.stringify(message.location())})`);
    }
  });
  page.setDefaultTimeout(WAIT);
  return page;
}

async function signIn(page, key) {
  await page.goto(`${BASE}/console`);
  check(new URL(page.url()).pathname === '/console/login', `not sent to sign in: ${page.url()}`);
  await page.fill('input[name="api_key"]', key);
  await Promise.all([page.waitForURL(`${BASE}/console`), page.click('form button[type="submit"]')]);
}

/// The text of every row of the history table, by position.
async function historyRows(page) {
  return page.$$eval('#history-table tbody tr', (rows) =>
    rows.map((tr) => ({
      position: Number(tr.getAttribute('data-position')),
      live: tr.classList.contains('new'),
      text: tr.innerText,
    })),
  );
}

/// The row of a history table for the first event of `type` after `after`.
async function waitForEvent(page, type, after) {
  await page.waitForFunction(
    ([type, after]) =>
      Array.from(document.querySelectorAll('#history-table tbody tr')).some(
        (tr) => Number(tr.getAttribute('data-position')) > after && tr.cells[2].textContent.startsWith(type + ' '),
      ),
    [type, after],
    { timeout: WAIT },
  );
  const rows = await historyRows(page);
  return rows.find((r) => r.position > after && r.text.split('\t')[2].startsWith(type + ' '));
}

// Playwright starts the browser on a fresh, temporary profile (--user-data-dir) of its own and
// removes it at close; these flags keep the browser from reaching out or needing a GPU.
const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

try {
  const viewport = { width: 1280, height: 860 };
  const admin = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
  const page = await watched(admin);
  let beforeLock;
  let queuedAt;

  await run('sign in as admin', async () => {
    await page.goto(`${BASE}/console/login`);
    await shot(page, 'sign-in');
    await signIn(page, ADMIN_KEY);
    check((await page.textContent('h1')) === 'Overview', 'the overview after sign-in');
    check((await page.textContent('form.signout')).includes(`api-key:${ADMIN_NAME}`), 'signed in under the key name');
    // The script is on, and its stream open: the hook says so.
    await page.waitForSelector('#live:not([hidden])');
    await page.waitForFunction(() => document.getElementById('live').textContent.startsWith('Live:'));
    await shot(page, 'overview');
  });

  // Kept open (never reloaded) while the lock goes out, to see the counters move.
  const overview = await watched(admin);
  await overview.goto(`${BASE}/console`);
  await overview.waitForFunction(() => document.getElementById('live').textContent.startsWith('Live:'));
  const headBefore = Number(await overview.textContent('[data-counter="head"]'));

  await run('find the device by its serial number', async () => {
    await page.goto(`${BASE}/console/devices`);
    await page.fill('#f-serial', SERIAL);
    await Promise.all([page.waitForURL(/serial=/), page.click('form[role="search"] button[type="submit"]')]);
    const rows = await page.$$eval('#devices-table tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-enrollment')));
    check(rows.length === 1 && rows[0] === UDID, `one row for the device, found ${JSON.stringify(rows)}`);
    await shot(page, 'devices');
    await Promise.all([page.waitForURL(`${BASE}/console/devices/${UDID}`), page.click(`#devices-table a[href="/console/devices/${UDID}"]`)]);
  });

  // The device page that watches the lock, opened before it is sent and never reloaded.
  const watching = await watched(admin);
  await run('read the device history', async () => {
    await watching.goto(`${BASE}/console/devices/${UDID}`);
    const rows = await historyRows(watching);
    const text = rows.map((r) => r.text).join('\n');
    check(rows.length >= 3, `a history, found ${rows.length} rows`);
    for (const type of ['Authenticate', 'TokenUpdate', 'CommandAcknowledged']) {
      check(text.includes(type), `the history shows ${type}`);
    }
    // An event's data opens in place (and closes again).
    const first = '#history-table tbody tr:first-child details';
    await watching.click(`${first} summary`);
    check((await watching.textContent(`${first} pre`)).includes(UDID), 'the first event names the device');
    check(await watching.$eval(first, (d) => d.open), 'the details open');
    await watching.click(`${first} summary`);
    await watching.waitForFunction(() => document.getElementById('live').textContent.startsWith('Live:'));
    await watching.evaluate(() => {
      window.annalNotReloaded = true;
    });
  });

  await run('lock it with a reason; delivery and acknowledgement arrive live', async () => {
    // A moment before the lock, in whole seconds (the as-of form's resolution).
    await new Promise((r) => setTimeout(r, 1100));
    beforeLock = new Date(Math.floor(Date.now() / 1000) * 1000);
    await new Promise((r) => setTimeout(r, 1100));
    const last = Math.max(...(await historyRows(watching)).map((r) => r.position));
    await page.selectOption('#send-type', 'DeviceLock');
    await page.fill('#send-reason', REASON);
    await Promise.all([page.waitForURL(`${BASE}/console/devices/${UDID}/commands`), page.click('form[action$="/commands"] button[type="submit"]')]);
    const confirmation = await page.textContent('main');
    check(confirmation.includes('DeviceLock') && confirmation.includes(REASON), 'the confirmation names the command and the reason');
    check(confirmation.includes(UDID), 'the confirmation names the device');
    await shot(page, 'send-confirmation');
    await Promise.all([
      page.waitForURL(/sent=/),
      page.click('form:has(input[name="confirm"][value="yes"]) button[type="submit"]'),
    ]);

    const queued = await waitForEvent(watching, 'CommandQueued', last);
    check(queued.live, 'CommandQueued was added live');
    check(queued.text.includes(`api-key:${ADMIN_NAME}`), `queued under the key's name: ${queued.text}`);
    queuedAt = queued.position;
    const delivered = await waitForEvent(watching, 'CommandDelivered', last);
    const acknowledged = await waitForEvent(watching, 'CommandAcknowledged', queued.position);
    check(delivered.live && acknowledged.live, 'delivery and answer were added live');
    check(acknowledged.position > delivered.position, 'the answer after the delivery');
    // The queue emptied again, live.
    await watching.waitForSelector('#queue-table', { state: 'hidden' });
    check(await watching.evaluate(() => window.annalNotReloaded === true), 'the page was not reloaded');
    // The overview's counters moved without a reload.
    await overview.waitForFunction((before) => Number(document.querySelector('[data-counter="head"]').textContent) > before, headBefore);
    // The history with the rows that arrived live, from its heading down.
    await watching.setViewportSize({ width: 1280, height: 1100 });
    await watching.evaluate(() => document.getElementById('history').scrollIntoView({ block: 'start' }));
    await shot(watching, 'device');
  });

  await run('view the fleet as of before the lock', async () => {
    const stamp = beforeLock.toISOString().slice(0, 19);
    await page.goto(`${BASE}/console/devices?serial=${encodeURIComponent(SERIAL)}`);
    await page.fill('#as-of-time', stamp);
    await Promise.all([page.waitForURL(/as_of_time=/), page.click('form[aria-labelledby="as-of-title"] button[type="submit"]')]);
    const banner = await page.textContent('main .warning');
    check(banner.includes('As the log knew the fleet at'), `labelled as a past view: ${banner}`);
    await shot(page, 'devices-as-of');
    // The device then: its own page as of the same point has no lock in its history.
    await Promise.all([page.waitForURL(/as_of_time=/), page.click(`#devices-table a[href^="/console/devices/${UDID}?"]`)]);
    const rows = await historyRows(page);
    check(rows.some((r) => r.text.includes('TokenUpdate')), 'the device existed then');
    check(rows.every((r) => r.position < queuedAt), 'the history stops before the lock');
    check(!(await page.textContent('#history-table')).includes('DeviceLock'), 'no lock as of before it');
    check((await page.$('#live')) === null, 'a past view is not live');
    // As of the lock's own position it is pending; one position earlier it is not.
    const pending = async (position) => {
      await page.goto(`${BASE}/console/devices?serial=${encodeURIComponent(SERIAL)}&as_of_position=${position}`);
      return page.$eval(`#devices-table tr[data-enrollment="${UDID}"] td:last-child`, (td) => td.textContent);
    };
    check((await pending(queuedAt)) === '1', 'pending as of the lock');
    check((await pending(queuedAt - 1)) === '0', 'nothing pending just before it');
  });

  await run('export the audit trail with the lock, its actor and reason', async () => {
    await page.goto(`${BASE}/console/audit?request_type=DeviceLock`);
    await shot(page, 'audit');
    const href = await page.getAttribute('a[href*="/console/audit/export"][href*="csv"]', 'href');
    const answer = await admin.request.get(`${BASE}${href}`);
    check(answer.status() === 200, `the export answered ${answer.status()}`);
    const csv = await answer.text();
    const line = csv.split('\n').find((l) => l.includes('DeviceLock') && l.includes(UDID));
    check(line, `a DeviceLock line for the device in:\n${csv}`);
    check(line.includes(`api-key:${ADMIN_NAME}`), `the actor in: ${line}`);
    check(line.includes(REASON), `the reason in: ${line}`);
  });

  await run('an auditor has no lock button and a forged POST is refused', async () => {
    const auditorContext = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
    const auditor = await watched(auditorContext);
    await signIn(auditor, AUDITOR_KEY);
    await auditor.goto(`${BASE}/console/devices/${UDID}`);
    check((await auditor.$('#send-type')) === null, 'no send form');
    check((await auditor.$('option[value="DeviceLock"]')) === null, 'no DeviceLock option');
    check((await auditor.$$('button.danger')).length === 0, 'no destructive button');
    check((await auditor.$('form[action$="/commands"]')) === null, 'no command form at all');
    // The auditor's own session and CSRF token, and a form that looks right: refused by role.
    refusalsExpected.add(`/console/devices/${UDID}/commands`);
    const status = await auditor.evaluate(async (udid) => {
      const csrf = document.querySelector('form.signout input[name="csrf"]').value;
      const body = new URLSearchParams({
        csrf,
        request_type: 'DeviceLock',
        reason: 'forged by an auditor',
        confirm: 'yes',
        idempotency_key: 'forged-0001',
      });
      const answer = await fetch(`/console/devices/${udid}/commands`, { method: 'POST', body, credentials: 'same-origin' });
      return answer.status;
    }, UDID);
    check(status === 403, `the forged POST answered ${status}`);
    await auditorContext.close();
  });

  await run('a hostile device name renders as text', async () => {
    await page.goto(`${BASE}/console/devices?udid=${encodeURIComponent(HOSTILE_UDID)}`);
    const cell = await page.textContent(`#devices-table tr[data-enrollment="${HOSTILE_UDID}"] td:first-child`);
    check(cell === HOSTILE, `the name as text, found ${JSON.stringify(cell)}`);
    await page.goto(`${BASE}/console/devices/${encodeURIComponent(HOSTILE_UDID)}`);
    check((await page.textContent('h1')).includes(HOSTILE), 'the page title shows the name as text');
    await page.waitForFunction(() => document.getElementById('live').textContent.startsWith('Live:'));
    // While the page is open the device answers with another hostile name: the live rows
    // carry it, and the script must put it in as text too.
    const last = Math.max(...(await historyRows(page)).map((r) => r.position));
    await ask('hostile-answer');
    const answered = await waitForEvent(page, 'CommandAcknowledged', last);
    check(answered.live, 'the answer arrived live');
    const shown = await page.$eval(`#history-table tr[data-position="${answered.position}"]`, (tr) => tr.textContent);
    // The raw plist, as the device wrote it (its XML entities and all), shown as text: put in
    // as markup its entities would have been decoded.
    check(shown.includes('<string>&quot;&gt;&lt;svg onload=alert(2)&gt;</string>'), `the answer shown as text in: ${shown}`);
    // An onerror or onload would have fired by now; the dialog listener fails the run if so.
    await page.waitForTimeout(500);
    check((await page.$$('img, svg')).length === 0, 'no img or svg element was injected by the live rows');
    for (const path of ['/console/devices', `/console/devices/${encodeURIComponent(HOSTILE_UDID)}`]) {
      await page.goto(`${BASE}${path}`);
      const injected = await page.$$eval('img, svg', (nodes) => nodes.length);
      check(injected === 0, `${path}: ${injected} img or svg element(s) injected`);
      check((await page.textContent('main')).includes(HOSTILE_ANSWER), `${path}: the new name as text`);
    }
  });

  await admin.close();
  console.log('console browser suite: every step passed');
} catch (error) {
  console.log(`FAIL: ${step}: ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  // stdin stays open (the test may still write): leave explicitly.
  process.exit(process.exitCode ?? 0);
}
