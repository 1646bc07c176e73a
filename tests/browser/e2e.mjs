// End-to-end test of the Cohort web UI: starts a real `cohort serve` on a free port with a fresh
// data folder, drives Debian's Chromium through playwright-core, and walks the main path:
// sign in, pick the workspace, upload a CSV, preview and schema, create a trainee and wait for
// it, analyze, predict, anomalies, synthesize 300 rows with local privacy, open the report,
// list jobs and reports, create an API token. Screenshots go to artifacts/. Any console error,
// uncaught page error, failed request or HTTP error response in the page fails the run.
//
//   cd tests/browser && npm install && COHORT_BIN=/path/to/cohort node e2e.mjs
//
// Environment: COHORT_BIN (default ../../build/cohort), CHROMIUM (default /usr/bin/chromium),
// E2E_HEADFUL=1 to watch it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const bin = path.resolve(process.env.COHORT_BIN || path.join(repo, 'build', 'cohort'));
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const csvPath = path.join(repo, 'tests', 'data', 'penguins.csv');
const artifacts = path.join(here, 'artifacts');
const password = 'e2e-' + Math.random().toString(36).slice(2) + '-Pw9';
const TOTAL_LIMIT_MS = 110_000;

const started = Date.now();
const problems = []; // console errors, page errors, failed requests: each fails the run
let server = null;
let serverLog = '';
let browser = null;
let dataDir = null;
let shot = 0;

function log(...args) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...args);
}

function check(cond, message) {
  if (!cond) throw new Error('check failed: ' + message);
}

async function startServer() {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cohort-e2e-'));
  check(fs.existsSync(bin), `no cohort binary at ${bin} (build it, or set COHORT_BIN)`);
  server = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data_dir', dataDir, '--secure_cookies', 'false'], {
    env: { ...process.env, COHORT_ADMIN_PASSWORD: password },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', (d) => (serverLog += d));
  const lines = readline.createInterface({ input: server.stderr });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cohort serve did not log "listening" within 15 s')), 15_000);
    server.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`cohort serve exited early (code ${code}, signal ${sig}):\n${serverLog}`));
    });
    server.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    lines.on('line', (line) => {
      serverLog += line + '\n';
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        return;
      }
      if (rec.msg === 'listening' && rec.port) {
        clearTimeout(timer);
        resolve(Number(rec.port));
      }
    });
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = once(server, 'exit');
  process.kill(server.pid, 'SIGTERM');
  const t = setTimeout(() => {
    if (server.exitCode === null && server.signalCode === null) {
      log('server ignored SIGTERM for 10 s: SIGKILL');
      process.kill(server.pid, 'SIGKILL');
    }
  }, 10_000);
  await exited;
  clearTimeout(t);
  if (server.exitCode !== 0) problems.push(`cohort serve exited with code ${server.exitCode} (signal ${server.signalCode}) after SIGTERM`);
}

function watchPage(page, label) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`[${label}] console error: ${msg.text()} (${msg.location().url || ''})`);
  });
  page.on('pageerror', (err) => problems.push(`[${label}] page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    problems.push(`[${label}] request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
  });
  page.on('response', (resp) => {
    if (resp.status() >= 400) problems.push(`[${label}] HTTP ${resp.status()} for ${resp.request().method()} ${resp.url()}`);
  });
}

async function snap(page, name, opts = {}) {
  shot++;
  const file = path.join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: opts.fullPage ?? true });
  log('  screenshot', path.relative(here, file));
}

async function step(name, fn) {
  const t0 = Date.now();
  log('step:', name);
  await fn();
  log(`  ok (${Date.now() - t0} ms)`);
  if (problems.length) throw new Error(`problems in the page during "${name}":\n  ` + problems.join('\n  '));
}

// Lets the page paint (an iframe scrolled into view paints a frame or two later).
async function settle(page) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 150)))));
}

const tid = (id) => `[data-testid="${id}"]`;

async function main() {
  fs.rmSync(artifacts, { recursive: true, force: true });
  fs.mkdirSync(artifacts, { recursive: true });

  const port = await startServer();
  const base = `http://127.0.0.1:${port}`;
  log('cohort serve listening on', base, 'pid', server.pid);

  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: !process.env.E2E_HEADFUL,
    args: [
      ...(process.env.E2E_HEADFUL ? [] : ['--headless']),
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: false });
  let pages = 0;
  context.on('page', (p) => watchPage(p, 'page ' + ++pages));
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);

  await step('sign in', async () => {
    const resp = await page.goto(base + '/');
    check(resp.status() === 200, 'GET / answers 200');
    const csp = resp.headers()['content-security-policy'] || '';
    check(csp.includes("default-src 'self'"), 'the UI is served with its CSP');
    await page.locator(tid('signin-form')).waitFor();
    await snap(page, 'sign-in', { fullPage: false });
    await page.fill(tid('signin-username'), 'admin');
    await page.fill(tid('signin-password'), password);
    await page.click(tid('signin-submit'));
    await page.locator(tid('workspace-list')).waitFor();
    await page.locator(tid('workspace-option')).first().waitFor();
    check((await page.textContent(tid('user-name'))).includes('admin'), 'the header shows the user');
  });

  await step('pick the workspace', async () => {
    await snap(page, 'workspaces', { fullPage: false });
    await page.click(`${tid('workspace-option')}[data-name="default"]`);
    await page.locator(tid('upload-card')).waitFor();
    check((await page.textContent('#workspace-name')).trim() === 'default', 'the header names the workspace');
  });

  let datasetUrl;
  await step('upload penguins.csv', async () => {
    // Record how far the upload progress bar gets (the upload of 15 KB is over in an instant).
    await page.evaluate(() => {
      const bar = document.querySelector('[data-testid="upload-progress"]');
      window.__uploadMax = 0;
      new MutationObserver(() => {
        window.__uploadMax = Math.max(window.__uploadMax, Number(bar.getAttribute('aria-valuenow')) || 0);
      }).observe(bar, { attributes: true, attributeFilter: ['aria-valuenow'] });
    });
    await page.setInputFiles(tid('upload-input'), csvPath);
    await snap(page, 'file-chosen', { fullPage: false });
    await page.click(tid('upload-button'));
    await page.waitForURL(/#\/datasets\/ds_/);
    datasetUrl = page.url();
    check((await page.evaluate(() => window.__uploadMax)) === 100, 'the upload progress bar reached 100%');
  });

  await step('preview and schema', async () => {
    const preview = page.locator(tid('preview-table'));
    await preview.waitFor();
    const header = await preview.locator('thead th').allTextContents();
    check(header.includes('species') && header.includes('body_mass_g'), 'preview header has the columns: ' + header.join(','));
    check((await preview.locator('tbody tr').count()) === 20, 'preview shows 20 rows');
    check((await preview.locator('tbody tr').first().textContent()).includes('Adelie'), 'first preview row is an Adelie');
    const schema = page.locator(tid('schema-table'));
    check((await schema.locator('tbody tr').count()) === 7, 'schema lists 7 features');
    check((await schema.locator('tr[data-feature="species"]').textContent()).includes('nominal'), 'species is nominal');
    check((await schema.locator('tr[data-feature="body_mass_g"]').textContent()).includes('continuous'), 'body_mass_g is continuous');
    check((await page.textContent('h1')).includes('penguins'), 'the dataset page is titled with its name');
    await snap(page, 'dataset');
  });

  let traineeUrl;
  await step('create a trainee and wait until ready', async () => {
    await page.fill(tid('trainee-name'), 'penguins');
    await page.click(tid('create-trainee-button'));
    await page.waitForURL(/#\/trainees\/tr_/);
    traineeUrl = page.url();
    const train = page.locator(`${tid('trainee-jobs')} ${tid('job-panel')}`).first();
    await train.waitFor();
    await page.locator(`${tid('trainee-status')}:text-is("ready")`).waitFor({ timeout: 30_000 });
    await page.locator(`${tid('trainee-jobs')} ${tid('job-panel')}[data-state="succeeded"]`).first().waitFor();
    check((await train.locator(tid('job-progress')).getAttribute('aria-valuenow')) === '100', 'train progress shows 100%');
    check((await page.textContent(tid('trainee-cases'))).trim() === '344', 'the trainee has 344 cases');
    await page.locator(tid('predict-card')).waitFor();
    await snap(page, 'trainee-ready', { fullPage: false });
  });

  await step('analyze', async () => {
    await page.click(tid('analyze-button'));
    await page.locator(`${tid('trainee-analyzed')}:text-matches("^yes")`).waitFor({ timeout: 30_000 });
    const kinds = await page.locator(`${tid('trainee-jobs')} ${tid('job-panel')}[data-state="succeeded"] .job-kind`).allTextContents();
    check(kinds.includes('analyze') && kinds.includes('train'), 'activity shows train and analyze: ' + kinds.join(','));
  });

  await step('predict species and body mass', async () => {
    await page.check(tid('target-species'));
    await page.check(tid('target-body_mass_g'));
    check(await page.isDisabled(tid('context-species')), 'a target is not a context field');
    await page.selectOption(tid('context-island'), 'Biscoe');
    await page.fill(tid('context-bill_length_mm'), '47.5');
    await page.fill(tid('context-bill_depth_mm'), '14.8');
    await page.fill(tid('context-flipper_length_mm'), '217');
    await page.click(tid('predict-button'));
    const result = page.locator(tid('predict-result'));
    await result.waitFor();
    const species = (await page.textContent(tid('prediction-species'))).trim();
    check(species === 'Gentoo', 'a long-billed, long-flippered Biscoe penguin is a Gentoo, not ' + species);
    check((await page.locator(`${tid('probabilities-species')} .prob-row`).count()) === 3, 'three class probabilities');
    const mass = Number((await page.textContent(tid('prediction-body_mass_g'))).trim());
    check(mass >= 3500 && mass <= 6300, 'body mass predicted within range: ' + mass);
    check(/±\s*\d/.test(await page.textContent(tid('uncertainty-body_mass_g'))), 'body mass has an uncertainty');
    check(/confidence \d/.test(await page.textContent(tid('uncertainty-species'))), 'species has a confidence');
    await result.scrollIntoViewIfNeeded();
    await snap(page, 'prediction', { fullPage: false });
  });

  await step('anomalies', async () => {
    await page.click(tid('anomalies-button'));
    const table = page.locator(tid('anomalies-table'));
    await table.waitFor();
    check((await table.locator(tid('anomaly-row')).count()) === 10, 'ten most surprising cases');
    check((await table.locator('thead th').allTextContents()).includes('species'), 'anomalies show the cases\' values');
    await table.scrollIntoViewIfNeeded();
    await snap(page, 'anomalies', { fullPage: false });
  });

  let reportHref;
  await step('synthesize 300 rows with local privacy', async () => {
    await page.fill(tid('synth-rows'), '300');
    await page.selectOption(tid('synth-privacy'), 'local');
    await page.click(tid('synth-button'));
    const job = page.locator(tid('synth-job'));
    await job.waitFor();
    await page.locator(`${tid('synth-job')}[data-state="succeeded"]`).waitFor({ timeout: 60_000 });
    check((await job.locator(tid('job-progress')).getAttribute('aria-valuenow')) === '100', 'synthesis progress shows 100%');
    check((await page.textContent(tid('synth-dataset-link'))).includes('300 rows'), 'links to the 300-row synthetic dataset');
    const q = (await page.textContent(`${tid('synth-result')} ${tid('score-quality')} .score-value`)).trim();
    check(/^\d{1,3}\.\d%$/.test(q), 'headline quality score shown: ' + q);
    reportHref = await page.getAttribute(`${tid('synth-result')} ${tid('report-link')}`, 'href');
    check(/^\/v1\/reports\/rep_[^/]+\/html$/.test(reportHref), 'report link: ' + reportHref);
    const frame = page.frameLocator(`${tid('synth-result')} ${tid('report-frame')}`);
    await frame.locator('h1').waitFor();
    check((await frame.locator('h1').textContent()).includes('report'), 'the report frame shows the report');
    check((await frame.locator('svg').count()) > 0, 'the report has SVG plots');
    await page.locator(`${tid('synth-card')} h2`).evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await frame.locator('svg').first().waitFor({ state: 'visible' });
    await settle(page);
    await snap(page, 'synthesized', { fullPage: false });
  });

  await step('open the report in a new tab', async () => {
    const [popup] = await Promise.all([
      context.waitForEvent('page'),
      page.click(`${tid('synth-result')} ${tid('report-link')}`),
    ]);
    await popup.waitForLoadState('load');
    check(popup.url() === base + reportHref, 'the new tab shows the report: ' + popup.url());
    const text = await popup.textContent('body');
    const m = text.match(/Quality\s*([0-9]{1,3}(?:\.[0-9])?%)/);
    check(m, 'the report shows a quality score');
    log('  report quality', m[1]);
    const svgs = await popup.locator('svg').count();
    check(svgs > 0, 'the report has SVG plots');
    const box = await popup.locator('svg').first().boundingBox();
    check(box && box.width > 50 && box.height > 30, 'the first plot is drawn with a size');
    log('  report has', svgs, 'SVG plots');
    await snap(popup, 'report', { fullPage: false });
    await popup.close();
  });

  await step('reports list', async () => {
    await page.click(tid('nav-reports'));
    const row = page.locator(tid('report-row')).first();
    await row.waitFor();
    check(/^\d{1,3}\.\d%$/.test((await row.locator(tid('report-quality')).textContent()).trim()), 'the list shows the quality score');
    await row.locator(tid('report-view')).click();
    await page.waitForURL(/#\/reports\/rep_/);
    await page.frameLocator(tid('report-frame')).locator('svg').first().waitFor();
    await settle(page);
    await snap(page, 'report-page', { fullPage: false });
    await page.click(tid('nav-reports'));
    await page.locator(tid('report-row')).first().waitFor();
    await snap(page, 'reports');
  });

  await step('jobs list', async () => {
    await page.click(tid('nav-jobs'));
    await page.locator(tid('job-row')).first().waitFor();
    const states = await page.locator(tid('job-row')).evaluateAll((rows) => rows.map((r) => r.dataset.kind + ':' + r.dataset.state));
    check(states.length === 3, 'three jobs: ' + states.join(','));
    check(states.every((s) => s.endsWith(':succeeded')), 'all jobs succeeded: ' + states.join(','));
    const full = await page.locator(`${tid('job-row')} ${tid('job-progress')}`).evaluateAll((bars) => bars.map((b) => b.getAttribute('aria-valuenow')));
    check(full.every((v) => v === '100'), 'all progress bars full');
    await snap(page, 'jobs');
  });

  await step('datasets list and trainees list', async () => {
    await page.click(tid('nav-datasets'));
    await page.locator(tid('dataset-row')).nth(1).waitFor();
    check((await page.locator(tid('dataset-row')).count()) === 2, 'the real and the synthetic dataset');
    await snap(page, 'datasets');
    await page.click(tid('nav-trainees'));
    const row = page.locator(tid('trainee-row')).first();
    await row.waitFor();
    check((await row.locator(tid('trainee-state')).textContent()).trim() === 'ready', 'the trainee is listed as ready');
    await snap(page, 'trainees');
  });

  await step('delete a dataset a trainee was made from: asked to confirm with what it loses', async () => {
    await page.click(tid('nav-datasets'));
    const row = page.locator(tid('dataset-row')).nth(1); // newest first: the uploaded penguins
    await row.waitFor();
    const del = row.locator(tid('dataset-delete'));
    await del.click(); // arms it
    await del.click(); // confirms: the server answers 409 in_use, naming the trainee
    const banner = page.locator(tid('error-banner'));
    await banner.waitFor();
    const said = await banner.textContent();
    check(said.includes('in use by 1 trainees'), 'the banner names the trainee made from it: ' + said);
    // That 409 was the point: it leaves the response and the browser's console line about it.
    const expected = (p) => p.includes('409') && p.includes('/v1/datasets/');
    check(problems.some(expected), 'the refused delete was seen');
    problems.splice(0, problems.length, ...problems.filter((p) => !expected(p)));
    await row.locator(tid('dataset-delete'), { hasText: 'Delete anyway' }).waitFor();
    await del.click();
    await del.click(); // deleted with force=true
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 1, tid('dataset-row'));
    await banner.waitFor({ state: 'hidden' });
    await snap(page, 'dataset-deleted');
  });

  await step('create an API token', async () => {
    await page.click(tid('nav-tokens'));
    await page.locator(tid('token-list')).waitFor();
    await page.fill(tid('token-name'), 'e2e notebook');
    await page.click(tid('token-create'));
    const secret = (await page.locator(tid('token-secret')).textContent()).trim();
    check(secret.length >= 20, 'the secret is shown once');
    await page.locator(`${tid('token-row')}[data-name="e2e notebook"]`).waitFor();
    // The token works for the API, outside the browser.
    const me = await fetch(base + '/v1/me', { headers: { Authorization: 'Bearer ' + secret } });
    check(me.status === 200, 'the new token authenticates: HTTP ' + me.status);
    check((await me.json()).name === 'admin', 'the token acts as its creator');
    await snap(page, 'token');
  });

  await step('reload keeps the session; sign out', async () => {
    await page.goto(traineeUrl);
    await page.locator(`${tid('trainee-status')}:text-is("ready")`).waitFor();
    // Its dataset was deleted (with force) above: the trainee page still works, and so does the list.
    await page.goto(datasetUrl.replace(/\/[^/]+$/, ''));
    await page.locator(tid('dataset-row')).first().waitFor();
    await page.click(tid('sign-out'));
    await page.locator(tid('signin-form')).waitFor();
  });

  await context.close();
  if (problems.length) throw new Error('problems in the page:\n  ' + problems.join('\n  '));
}

let failed = false;
const limit = setTimeout(() => {
  console.error(`FAIL: the run took more than ${TOTAL_LIMIT_MS / 1000} s`);
  failed = true;
  cleanup().finally(() => process.exit(1));
}, TOTAL_LIMIT_MS);

let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  if (browser) await browser.close().catch((e) => log('closing the browser:', e.message));
  await stopServer().catch((e) => log('stopping the server:', e.message));
  try {
    fs.writeFileSync(path.join(artifacts, 'server.log'), serverLog);
  } catch {
    // artifacts may not exist if we failed very early
  }
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    failed = true;
    cleanup().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (e) {
  failed = true;
  console.error('FAIL:', e.stack || e.message);
  try {
    const pages = browser ? browser.contexts().flatMap((c) => c.pages()) : [];
    if (pages[0]) await pages[0].screenshot({ path: path.join(artifacts, 'failure.png'), fullPage: true });
  } catch {
    // best effort
  }
} finally {
  clearTimeout(limit);
  await cleanup();
}
if (!failed && problems.length) {
  failed = true;
  console.error('FAIL:\n  ' + problems.join('\n  '));
}
log(failed ? 'FAILED' : `PASSED (${shot} screenshots in ${path.relative(process.cwd(), artifacts) || '.'})`);
process.exit(failed ? 1 : 0);
