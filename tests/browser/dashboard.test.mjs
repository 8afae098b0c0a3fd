// The dashboard in real headless Chromium: sign in, see the overview, the SLOs and the accounts
// page, inject a fault into a sandbox and watch the alert fire — with axe-core finding no serious
// or critical accessibility violation on any page, and a screenshot of each kept as an artefact.
//
// Needs PATHWATCH_BIN (a built pathwatch) and Debian's /usr/bin/chromium; scripts/test.sh provides
// both. Without them the test is skipped loudly, unless PATHWATCH_REQUIRE_SERVICES=1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = process.env.PATHWATCH_ARTIFACTS_DIR ?? join(import.meta.dirname, 'artifacts');
const PASSWORD = 'browser test passphrase';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function missing(what) {
  if (process.env.PATHWATCH_REQUIRE_SERVICES === '1') {
    assert.fail(`PATHWATCH_REQUIRE_SERVICES=1 but ${what} is missing`);
  }
  console.log(`SKIPPED: ${what} is missing (scripts/test.sh provides it)`);
}

/** Starts `pathwatch up` and resolves once it prints `ready`. */
async function startPathwatch(bin, dir, ports) {
  const config = join(dir, 'pathwatch.toml');
  writeFileSync(config, `
[alerts]
evaluate_every_secs = 1

[[canaries.flows]]
name = "pds"
kind = "pds"
environment = "demo"
schedule = "*/2 * * * * *"
jitter_s = 0
patient = "9000000009"

# The same journey against a second environment with no APIM credentials: every run is refused (401).
[[canaries.flows]]
name = "pds-int"
kind = "pds"
environment = "integration"
schedule = "*/2 * * * * *"
jitter_s = 0
patient = "9000000009"

[canaries.environments.integration]
pds_url = "http://127.0.0.1:${ports.sandbox}/personal-demographics/FHIR/R4"

[[pathways]]
id = "look-up-patient"
name = "Look up a patient"
flow = "pds"
compare_flows = ["pds-int"]

[[slos]]
name = "pds-availability"
flow = "pds"
sli = "availability"
objective = 0.99
`);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PATHWATCH_')));
  Object.assign(env, {
    PATHWATCH_LOG: 'warn',
    PATHWATCH_COLLECTOR__LISTEN: `127.0.0.1:${ports.collector}`,
    PATHWATCH_COLLECTOR__GRPC_LISTEN: '127.0.0.1:0',
    PATHWATCH_DASHBOARD__LISTEN: `127.0.0.1:${ports.dashboard}`,
    PATHWATCH_SANDBOX__LISTEN: `127.0.0.1:${ports.sandbox}`,
  });
  const child = spawn(bin, ['--data-dir', join(dir, 'data'), '--config', config, 'up'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (d) => { output += d; });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pathwatch did not start:\n${output}`)), 60_000);
    child.stdout.on('data', (d) => {
      output += d;
      if (output.includes('\nready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`pathwatch exited with ${code}:\n${output}`)));
  });
  // The first start creates `admin` with a one-time password, shown once on standard output.
  const oneTime = output.match(/one-time password (\S+) \(shown once/);
  assert.ok(oneTime, `no one-time admin password printed:\n${output}`);
  return { child, oneTimePassword: oneTime[1] };
}

/** A link in the main navigation. */
function nav(page, name) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
}

/** Runs axe-core in the page (injected by evaluate: the CSP allows no script tags) and fails on
 *  any serious or critical violation. */
async function checkAccessibility(page, name) {
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } }));
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  writeFileSync(join(ARTIFACTS, `${name}.axe.json`), JSON.stringify(results.violations, null, 2));
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.length} nodes)`), [], `${name}: accessibility`);
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

test('sign in, see the SLOs, watch an alert fire after a sandbox fault', { timeout: 180_000 }, async (t) => {
  const bin = process.env.PATHWATCH_BIN;
  if (!bin) return missing('PATHWATCH_BIN');
  if (!existsSync(CHROMIUM)) return missing(CHROMIUM);
  mkdirSync(ARTIFACTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'pathwatch-browser-'));
  const ports = { collector: await freePort(), dashboard: await freePort(), sandbox: await freePort() };
  const { child: pathwatch, oneTimePassword } = await startPathwatch(bin, dir, ports);
  t.after(() => pathwatch.kill('SIGKILL'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const base = `http://127.0.0.1:${ports.dashboard}`;

  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/login', 'not signed in: the sign-in page');
  await checkAccessibility(page, '01-sign-in');

  await page.getByLabel('Account name').fill('admin');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await page.getByRole('alert').innerText(), /Wrong account name or password/);

  // The one-time password signs in only to the page that replaces it.
  await page.getByLabel('Password').fill(oneTimePassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/account/password`);
  await checkAccessibility(page, '02-choose-password');
  await page.getByLabel('Current password').fill(oneTimePassword);
  await page.getByLabel('New password', { exact: true }).fill('short');
  await page.getByLabel('New password again').fill('short');
  await page.getByRole('button', { name: 'Change password' }).click();
  assert.match(await page.getByRole('alert').innerText(), /at least 12 characters/);
  await checkAccessibility(page, '02-password-error');
  await page.getByLabel('Current password').fill(oneTimePassword);
  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('New password again').fill(PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.waitForURL(`${base}/`);
  assert.match(await page.locator('header').innerText(), /Signed in as admin/);
  await checkAccessibility(page, '03-overview');

  // The canary runs every two seconds; wait for its runs to reach the SLO page.
  await nav(page, 'SLOs').click();
  for (let i = 0; i < 30 && (await page.content()).includes('none yet'); i++) {
    await page.waitForTimeout(1000);
    await page.reload();
  }
  const pds = page.locator('section', { has: page.getByRole('heading', { name: 'pds-availability' }) });
  assert.match(await pds.innerText(), /\d+ \(0 failed\)/);
  await checkAccessibility(page, '04-slos-healthy');

  // Environments side by side: the journey works in the demo and fails in integration (no token).
  const environments = page.locator('table', { has: page.getByRole('columnheader', { name: 'Where it fails' }) });
  let spread = '';
  for (let i = 0; i < 30 && !/Failing in integration only/.test(spread); i++) {
    await nav(page, 'Overview').click();
    spread = (await environments.count()) ? await environments.innerText() : '';
    if (!/Failing in integration only/.test(spread)) await page.waitForTimeout(1000);
  }
  assert.match(spread, /Failing in integration only; working in demo/);
  await checkAccessibility(page, '04a-overview-environments');

  // Break PDS in the sandbox: every canary run now fails, the budget burns, the page alert fires.
  const fault = await fetch(`http://127.0.0.1:${ports.sandbox}/_admin/faults/pds`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error_rate: 1, error_status: 500 }),
  });
  assert.equal(fault.status, 200);
  await nav(page, 'Alerts').click();
  let firing = false;
  for (let i = 0; i < 60 && !firing; i++) {
    await page.goto(`${base}/alerts`);
    firing = (await page.content()).includes('<td>FIRING</td>');
    if (!firing) await page.waitForTimeout(1000);
  }
  assert.ok(firing, 'the page alert fired within a minute of the fault');
  assert.match(await page.locator('tbody').innerText(), /FIRING\s+page\s+pds-availability/);
  await checkAccessibility(page, '05-alert-firing');

  // The alert's own page: acknowledge it, and its history says who.
  await page.getByRole('link', { name: /^#\d+$/ }).first().click();
  await page.waitForURL(/\/alerts\/\d+$/);
  assert.match(await page.locator('main').innerText(), /Fired/);
  await checkAccessibility(page, '05a-alert');
  await page.getByRole('button', { name: 'Acknowledge' }).click();
  await page.waitForURL(/\/alerts\/\d+$/);
  assert.match(await page.locator('dl.facts').innerText(), /acknowledged by admin/);
  assert.match(await page.locator('tbody').innerText(), /Acknowledged\s+admin/);
  await checkAccessibility(page, '05b-alert-acknowledged');

  // Silence the SLO for two hours from its page: the form, then the list with the window open.
  await page.getByRole('link', { name: 'Silence this SLO…' }).click();
  await page.waitForURL(/\/silences\?target=slo:pds-availability$/);
  await checkAccessibility(page, '05c-silence-form');
  const ukTime = (ms) => new Intl.DateTimeFormat('sv-SE', {
    timeZone: 'Europe/London', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  }).format(new Date(ms)).replace(' ', 'T');
  await page.getByLabel('Reason (the planned work and its reference)').fill('PDS fault drill');
  await page.getByLabel(/^Ends \(UK time/).fill(ukTime(Date.now() + 2 * 3600_000));
  await page.getByRole('button', { name: 'Add the silence' }).click();
  await page.waitForURL(`${base}/silences`);
  assert.match(await page.locator('tbody').innerText(), /active\s+SLO pds-availability/);
  await checkAccessibility(page, '05d-silences');

  // Declare an incident from the alert, tell users, resolve it, write the post-mortem.
  await nav(page, 'Alerts').click();
  await page.getByRole('link', { name: /^#\d+$/ }).first().click();
  await page.getByRole('link', { name: 'Declare an incident…' }).click();
  await page.waitForURL(/\/incidents\/new\?alert=\d+$/);
  assert.ok(await page.getByLabel('Look up a patient').isChecked(), 'the alert\'s pathway is ticked');
  await checkAccessibility(page, '05e-incident-new');
  await page.getByLabel('Title (what users cannot do)').fill('Receptionists cannot look up patients');
  await page.getByLabel(/First message for users/).fill('Patient look-up is failing; use the fallback process.');
  await page.getByRole('button', { name: 'Declare' }).click();
  await page.waitForURL(/\/incidents\/\d+$/);
  const incidentUrl = page.url();
  assert.match(await page.locator('tbody').innerText(), /Declared from alert #\d+/);
  await checkAccessibility(page, '05f-incident-open');
  await page.getByLabel(/^Resolved$/).check();
  await page.getByRole('button', { name: 'Update the status' }).click();
  await page.waitForURL(incidentUrl);
  await page.getByLabel(/^Impact on users/).fill('Receptionists could not look up patients during the drill.');
  await page.getByRole('button', { name: 'Save the post-mortem' }).click();
  await page.waitForURL(`${incidentUrl}#post-mortem`);
  await page.getByLabel('New action').fill('Alert on certificate expiry');
  await page.getByLabel('Owner').fill('admin');
  await page.getByLabel('Due (date)').fill('2030-01-31');
  await page.getByRole('button', { name: 'Add the action' }).click();
  await page.waitForURL(`${incidentUrl}#actions`);
  assert.match(await page.locator('#actions + table').innerText(), /Alert on certificate expiry\s+admin\s+2030-01-31/);
  await checkAccessibility(page, '05g-incident-post-mortem');
  await nav(page, 'Incidents').click();
  assert.match(await page.locator('main').innerText(), /Alert on certificate expiry/);
  await checkAccessibility(page, '05h-incidents');

  // The status page for users (signed-in users by default): PDS not working, in words, with its strip.
  await page.goto(`${base}/status`);
  const pdsService = page.locator('section.service', { has: page.getByRole('heading', { name: /Look up a patient/ }) });
  assert.match(await pdsService.innerText(), /Not working|Partly working/);
  assert.equal(await pdsService.locator('li.day').count(), 90);
  await checkAccessibility(page, '05i-status');

  // A known error for the fault, kept on the dashboard: the overview then gives its workaround.
  await page.goto(`${base}/known-errors`);
  await checkAccessibility(page, '05j-known-errors-empty');
  await page.getByLabel('Title (what is known to fail)').fill('PDS answers 500 during the drill');
  await page.getByLabel('Error class').selectOption('5xx');
  await page.getByLabel(/^Workaround/).fill('Use the paper look-up form.');
  await page.getByRole('button', { name: 'Add the known error' }).click();
  await page.waitForURL(`${base}/known-errors`);
  assert.match(await page.locator('tbody').innerText(), /KE-1: PDS answers 500 during the drill/);
  await checkAccessibility(page, '05k-known-errors');
  await nav(page, 'Overview').click();
  assert.match(await page.locator('main').innerText(), /Known error KE-1|Use the paper look-up form/);

  await page.goto(`${base}/slos`);
  assert.match(await pds.innerText(), /PAGE/);
  await checkAccessibility(page, '06-slos-burning');

  // The overview links each pathway to its page: steps, failures by class, runs linked to traces.
  await nav(page, 'Overview').click();
  await page.getByRole('link', { name: 'Look up a patient' }).first().click();
  await page.waitForURL(`${base}/pathways/look-up-patient`);
  assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /Look up a patient/);
  assert.match(await page.locator('dl.facts').innerText(), /Status\s+(outage|partial)/);
  const classes = page.locator('section', { has: page.getByRole('heading', { name: /Failed runs by error class/ }) });
  assert.match(await classes.locator('tbody').innerText(), /5xx\s+\d+/);
  const steps = page.locator('section', { has: page.getByRole('heading', { name: /Canary steps/ }) });
  assert.match(await steps.locator('tbody').innerText(), /read_patient/);
  await checkAccessibility(page, '06b-pathway');

  // A run's trace: every span of the correlation id as a waterfall.
  await page.locator('section', { has: page.getByRole('heading', { name: 'Recent runs' }) })
    .getByRole('link', { name: /^Open/ }).first().click();
  await page.waitForURL(/\/trace\?q=[0-9a-f]{32}$/);
  const waterfall = await page.locator('tbody').innerText();
  assert.match(waterfall, /canary pds/);
  assert.match(waterfall, /GET \/Patient/);
  await checkAccessibility(page, '06c-trace');

  // The search box finds the same trace from an empty page, and an unknown id says so.
  const traceId = new URL(page.url()).searchParams.get('q');
  await page.goto(`${base}/trace`);
  await page.getByLabel('Correlation id or trace id').fill(traceId);
  await page.getByRole('button', { name: 'Find' }).click();
  await page.waitForURL(`${base}/trace?q=${traceId}`);
  assert.match(await page.locator('tbody').innerText(), /canary pds/);
  await page.getByLabel('Correlation id or trace id').fill('no-such-correlation-id');
  await page.getByRole('button', { name: 'Find' }).click();
  assert.match(await page.getByRole('alert').innerText(), /No spans found for no-such-correlation-id/);
  await checkAccessibility(page, '06d-trace-not-found');

  // The overview with a pathway in outage: status, charts and guidance pass axe too.
  await nav(page, 'Overview').click();
  const pdsRow = page.locator('tr', { has: page.getByRole('link', { name: 'Look up a patient' }) }).first();
  assert.match(await pdsRow.innerText(), /outage|partial/);
  assert.match(await environments.innerText(), /Failing in every environment/);
  await checkAccessibility(page, '06e-overview-outage');

  // Credentials: the demo's signing key is due for rotation in 25 days, so the overview warns.
  let credentials = '';
  for (let i = 0; i < 40 && !/APIM signing key/.test(credentials); i++) {
    await page.goto(`${base}/credentials`);
    credentials = await page.locator('main').innerText();
    if (!/APIM signing key/.test(credentials)) await page.waitForTimeout(1000);
  }
  assert.match(credentials, /APIM signing key pathwatch-demo-1 \(demo\)\s+demo\/kid\s+expires in 2[45] days/);
  await checkAccessibility(page, '06f-credentials');

  // API versions: the PDS steps speak FHIR R4 in both environments; nothing is announced.
  await nav(page, 'API versions').click();
  const versions = await page.locator('main').innerText();
  assert.match(versions, /Environment demo/);
  assert.match(versions, /read_patient[\s\S]*FHIR R4/);
  assert.match(versions, /No service has announced a deprecation/);
  await checkAccessibility(page, '06g-api-versions');
  await nav(page, 'Overview').click();
  assert.match(await page.locator('#credentials').locator('..').innerText(), /renew soon/);

  await nav(page, 'Accounts').click();
  assert.match(await page.locator('table').innerText(), /admin\s+admin/);
  await checkAccessibility(page, '07-accounts');

  // The hazard log (demo mode loads the starter log): the matrix and one hazard with its history.
  await nav(page, 'Hazard log').click();
  assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /Hazard log/);
  assert.match(await page.locator('table.matrix').innerText(), /rating 5/);
  await checkAccessibility(page, '07b-hazards');
  await page.getByRole('link', { name: /HAZ-001:/ }).click();
  await page.waitForURL(`${base}/hazards/HAZ-001`);
  assert.match(await page.locator('main').innerText(), /Version 1/);
  await checkAccessibility(page, '07c-hazard');

  // Assurance reports: the form, then a download of a DTAC pack (a zip with the SHA-256 manifest).
  await nav(page, 'Reports').click();
  await checkAccessibility(page, '07d-reports');
  await page.getByLabel('DTAC evidence pack').check();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download the pack' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^pathwatch-dtac-\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.zip$/);
  const zip = readFileSync(await download.path());
  assert.equal(zip.subarray(0, 2).toString(), 'PK', 'a zip archive');
  assert.ok(zip.includes(Buffer.from('manifest.json')), 'the pack holds its manifest');

  // Audit review (IG leads review; admins read): findings, a search (itself recorded), samples, coverage.
  await nav(page, 'Audit findings').click();
  assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /Audit findings/);
  await checkAccessibility(page, '07e-findings');
  // Expected access (exceptions learnt from justified findings), and a case opened (none here).
  await page.getByRole('link', { name: 'expected access' }).click();
  await page.waitForURL(`${base}/audit/exceptions`);
  assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /Expected access/);
  assert.match(await page.locator('main').innerText(), /No access is recorded as expected/);
  await checkAccessibility(page, '07e-exceptions');
  await page.goto(`${base}/audit/findings?case=${encodeURIComponent('A81001|nobody|2900')}`);
  assert.match(await page.locator('main').innerText(), /No findings of this case match/);
  await checkAccessibility(page, '07e-case');
  await nav(page, 'Audit search').click();
  await page.getByLabel('User id').fill('nobody');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForURL(/\/audit\/search\?/);
  assert.match(await page.locator('main').innerText(), /No audit events match/);
  await checkAccessibility(page, '07f-audit-search');
  await nav(page, 'Audit samples').click();
  assert.match(await page.locator('main').innerText(), /No samples have been drawn/);
  await checkAccessibility(page, '07g-samples');
  await page.getByRole('link', { name: 'Coverage over the DSPT year' }).click();
  await page.waitForURL(`${base}/audit/coverage`);
  await checkAccessibility(page, '07h-coverage');

  await page.goto(`${base}/no-such-page`);
  await checkAccessibility(page, '08-not-found');

  await page.goto(`${base}/`);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/login`);
  await page.goto(`${base}/slos`);
  assert.equal(new URL(page.url()).pathname, '/login', 'signed out: data pages need signing in again');
});
