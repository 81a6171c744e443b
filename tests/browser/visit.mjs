// Opens one URL in Debian's chromium (headless, a new profile) through
// playwright-core and prints what happened as one JSON line:
//   {"ok": true, "status": 200, "hsts": "...", "security": {...}, "text": "..."}
//   {"ok": false, "error": "net::ERR_CERT_AUTHORITY_INVALID ..."}
// Usage: node visit.mjs URL USER_DATA_DIR [SCREENSHOT.png]
// The NSS database Chromium reads is $HOME/.pki/nssdb: the caller sets HOME.
// Every step has a timeout, and the whole run is bounded: without a client
// certificate policy Chromium would open a picker and wait for ever.
import { chromium } from 'playwright-core';

const [url, userDataDir, screenshot] = process.argv.slice(2);
const limit = setTimeout(() => {
  console.log(JSON.stringify({ ok: false, error: 'timed out after 60 s' }));
  process.exit(3);
}, 60000);

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  timeout: 30000,
  // As root Chromium needs --no-sandbox; this machine has no internet, so
  // nothing in the background may try to reach it.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
let result;
try {
  const page = context.pages()[0] || await context.newPage();
  try {
    const response = await page.goto(url, { timeout: 20000, waitUntil: 'load' });
    const headers = await response.allHeaders();
    result = {
      ok: true,
      status: response.status(),
      hsts: headers['strict-transport-security'] || null,
      security: await response.securityDetails(),
      text: await page.innerText('body', { timeout: 5000 }),
    };
  } catch (e) {
    result = { ok: false, error: String(e.message).split('\n')[0] };
  }
  if (screenshot) await page.screenshot({ path: screenshot, timeout: 10000 }).catch(() => {});
} finally {
  await context.close().catch(() => {});
}
clearTimeout(limit);
console.log(JSON.stringify(result));
