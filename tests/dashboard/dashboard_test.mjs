// Drives the dashboard in Debian's headless Chromium (puppeteer-core). Run by
// tests/dashboard/dashboard_pgtest.cc against a real `tally serve` and the sandbox:
//   TALLY_URL, TALLY_KEY (an owner key), SANDBOX_URL, BOT_ID (sells product "vip"),
//   SCREENSHOT (optional: where to save a screenshot), CHROMIUM (default /usr/bin/chromium).
// Checks: a wrong key shows a clear error; signing in shows the live feed connected; a charge
// created through the API appears in the live feed within 1 s of its 201; paying it at the
// simulator shows it paid in the feed, and changes today's sales and revenue, within 1 s of the
// simulator's answer; no console errors (but the one 401 the wrong key is expected to cause).
// Prints one line per step; exits 1 with the reason on the first failure.
import puppeteer from 'puppeteer-core';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const TALLY_URL = env('TALLY_URL');
const KEY = env('TALLY_KEY');
const SANDBOX_URL = env('SANDBOX_URL');
const BOT_ID = env('BOT_ID');
const SCREENSHOT = process.env.SCREENSHOT || '';
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const LIMIT_MS = 1000;

const step = (text) => console.log(`dashboard test: ${text}`);
function fail(text) {
  throw new Error(text);
}

async function post(url, body, headers = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) };
}

// Waits until `predicate` (run in the page) holds; the elapsed milliseconds from `since`.
async function within(page, what, since, predicate, ...args) {
  try {
    await page.waitForFunction(predicate, { timeout: 10000, polling: 'mutation' }, ...args);
  } catch (e) {
    fail(`${what}: not seen within 10 s`);
  }
  return performance.now() - since;
}

const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
let exitCode = 0;
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1360, height: 1000 });
  const consoleErrors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') {
      consoleErrors.push({ text: message.text(), url: message.location()?.url || '' });
    }
  });
  page.on('pageerror', (error) => consoleErrors.push({ text: `page error: ${error.message}`, url: '' }));

  // 1. A wrong key: a clear error, and the dashboard stays closed.
  await page.goto(`${TALLY_URL}/`, { waitUntil: 'load' });
  await page.type('#key', 'tly_this_is_not_a_key');
  await page.click('#sign-in-button');
  await page.waitForSelector('#sign-in-error:not([hidden])', { timeout: 10000 });
  const refusal = await page.$eval('#sign-in-error', (e) => e.textContent);
  if (!/not accepted/.test(refusal) || !/unknown API key/.test(refusal)) {
    fail(`the wrong key's error is not clear: "${refusal}"`);
  }
  if (await page.$eval('#app', (e) => !e.hidden)) fail('the dashboard opened with a wrong key');
  step(`a wrong key is refused: "${refusal}"`);
  // The refused /v1/health request is the one error the browser logs here.
  const expected = consoleErrors.filter((e) => /status of 401/.test(e.text));
  if (expected.length !== consoleErrors.length) {
    fail(`console errors: ${JSON.stringify(consoleErrors)}`);
  }
  consoleErrors.length = 0;

  // 2. The owner key: the dashboard, its live feed connected, the totals loaded.
  await page.goto(`${TALLY_URL}/`, { waitUntil: 'load' });
  await page.type('#key', KEY);
  await page.click('#sign-in-button');
  await page.waitForSelector('#app:not([hidden])', { timeout: 10000 });
  await page.waitForFunction(() => document.getElementById('live-status').textContent === 'live',
                             { timeout: 10000 });
  await page.waitForFunction(() => document.getElementById('today-sales').textContent !== '…',
                             { timeout: 10000 });
  const salesBefore = await page.$eval('#today-sales', (e) => e.textContent);
  const revenueBefore = await page.$eval('#today-revenue', (e) => e.textContent);
  step(`signed in; live feed connected; today: ${salesBefore} sales, ${revenueBefore}`);

  // 3. A charge created through the API appears in the live feed.
  const created = await post(`${TALLY_URL}/v1/payments`, {
    gateway: 'stripe', amount_minor: 1990, bot_id: BOT_ID, product_id: 'vip',
    customer: { id: 'tg:4242' }, tracking: { client_user_agent: 'Mozilla/5.0' },
  }, { Authorization: `Bearer ${KEY}` });
  const createdAt = performance.now();
  if (created.status !== 201) fail(`POST /v1/payments: ${created.status} ${created.text}`);
  const payment = created.json();
  const appeared = await within(page, 'the new charge in the live feed', createdAt,
    (id) => !!document.querySelector(`#live li[data-payment-id="${CSS.escape(id)}"]`),
    payment.payment_id);
  if (appeared > LIMIT_MS) fail(`the new charge took ${appeared.toFixed(0)} ms to appear (limit ${LIMIT_MS})`);
  step(`created ${payment.payment_id}: in the live feed after ${appeared.toFixed(0)} ms`);

  // 4. Paid at the simulator: paid in the feed, and today's totals move.
  const paid = await post(`${SANDBOX_URL}/sandbox/charges/stripe/${payment.gateway_transaction_id}/pay`, {});
  const paidAt = performance.now();
  if (paid.status !== 200) fail(`paying at the simulator: ${paid.status} ${paid.text}`);
  const paidShown = await within(page, 'the payment shown paid in the live feed', paidAt,
    (id) => {
      const item = document.querySelector(`#live li[data-payment-id="${CSS.escape(id)}"]`);
      return !!item && !!item.querySelector('.status.paid');
    }, payment.payment_id);
  const totalsMoved = await within(page, "today's sales and revenue changing", paidAt,
    (sales, revenue) => document.getElementById('today-sales').textContent !== sales &&
                        document.getElementById('today-revenue').textContent !== revenue,
    salesBefore, revenueBefore);
  const salesAfter = await page.$eval('#today-sales', (e) => e.textContent);
  const revenueAfter = await page.$eval('#today-revenue', (e) => e.textContent);
  step(`paid: shown paid after ${paidShown.toFixed(0)} ms; totals ${salesBefore} -> ${salesAfter} sales, ` +
       `${revenueBefore} -> ${revenueAfter} after ${totalsMoved.toFixed(0)} ms`);
  if (paidShown > LIMIT_MS) fail(`paid took ${paidShown.toFixed(0)} ms to show (limit ${LIMIT_MS})`);
  if (totalsMoved > LIMIT_MS) fail(`the totals took ${totalsMoved.toFixed(0)} ms to change (limit ${LIMIT_MS})`);
  if (Number(salesAfter) !== Number(salesBefore) + 1) fail(`sales went ${salesBefore} -> ${salesAfter}, not +1`);

  // 5. The delivery follows (the reactors send the Telegram message), and the table has the row.
  await within(page, 'the delivery in the live feed', performance.now(), (id) => {
    const item = document.querySelector(`#live li[data-payment-id="${CSS.escape(id)}"]`);
    return !!item && /paid · (sent|accessed)/.test(item.textContent);
  }, payment.payment_id);
  await page.waitForFunction(
    (id) => !!document.querySelector(`#payments tr[data-payment-id="${CSS.escape(id)}"]`),
    { timeout: 10000 }, payment.payment_id);
  step('the delivery shows in the feed; the payments table has the row');

  if (SCREENSHOT) {
    await page.waitForFunction(() => !!document.querySelector('#chart svg rect'), { timeout: 10000 });
    await page.emulateMediaFeatures([{ name: 'prefers-reduced-motion', value: 'reduce' }]);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    step(`screenshot: ${SCREENSHOT}`);
  }
  if (consoleErrors.length) fail(`console errors: ${JSON.stringify(consoleErrors)}`);
  step('no console errors; passed');
} catch (error) {
  console.log(`dashboard test: FAILED: ${error.message}`);
  exitCode = 1;
} finally {
  await browser.close();
}
process.exit(exitCode);
