// Opens an hlstm report in Debian's headless Chromium through puppeteer-core, with the network off
// (offline mode, and every request other than the file itself and data: URIs aborted and counted),
// clicks a point on the map and prints one line: RESULT {json}.
// Usage: node report_browser.cjs REPORT.html POINT_ID SCREENSHOT.png   (NODE_PATH: puppeteer-core)
'use strict';
const puppeteer = require('puppeteer-core');
const path = require('path');

(async () => {
  const [report, pointId, shot] = process.argv.slice(2);
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  const result = { consoleErrors: [], blocked: [] };
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    await page.setOfflineMode(true);
    await page.setRequestInterception(true);
    const url = 'file://' + path.resolve(report);
    page.on('request', (req) => {
      const u = req.url();
      if (u === url || u.startsWith('data:')) req.continue();
      else { result.blocked.push(u); req.abort(); }
    });
    page.on('console', (m) => { if (m.type() === 'error') result.consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => result.consoleErrors.push(String(e)));
    page.on('requestfailed', (r) => { if (r.url() !== url) result.consoleErrors.push('request failed: ' + r.url()); });
    await page.goto(url, { waitUntil: 'load', timeout: 60000 });
    result.title = await page.title();
    result.hlstmMae = await page.$eval('#method-table tr[data-method="HLSTM"] .mae', (e) => e.dataset.value);
    result.methods = await page.$$eval('#method-table tbody tr', (rows) => rows.map((r) => r.dataset.method));
    result.images = await page.$$eval('figure img', (imgs) => imgs.map((i) => [i.naturalWidth, i.naturalHeight]));
    await page.$eval('#map', (e) => e.scrollIntoView({ block: 'center' }));
    // the preferred point, or else the first one, that no other point lies within 4 px of (a click
    // on a pixel shared by two points cannot say which one is meant)
    result.before = await page.$eval('#series', (s) => s.getAttribute('data-point-id'));
    result.target = await page.evaluate((want, before) => {
      const R = window.hlstmReport, ps = R.points.filter((p) => p.x !== null && p.y !== null);
      const xy = new Map(ps.map((p) => [p.id, R.pixelOf(p.id)]));
      const alone = (p) => String(p.id) !== before && ps.every((q) => q === p || Math.hypot(xy.get(q.id)[0] - xy.get(p.id)[0], xy.get(q.id)[1] - xy.get(p.id)[1]) > 4);
      const first = ps.find((p) => p.id === want);
      if (first && alone(first)) return first.id;
      const other = ps.find(alone);
      return other ? other.id : want;
    }, Number(pointId), result.before);
    const [x, y] = await page.evaluate((i) => window.hlstmReport.pixelOf(i), result.target);
    await page.mouse.click(x, y);
    result.clickedId = await page.$eval('#series', (s) => s.getAttribute('data-point-id'));
    result.last = await page.$eval('#series path[data-series="forecast"]', (p) => p.getAttribute('data-last'));
    result.values = await page.$eval('#series path[data-series="forecast"]', (p) => p.getAttribute('data-values'));
    result.band = (await page.$$('#series path[data-series="band"]')).length;
    result.history = await page.$eval('#series path[data-series="history"]', (p) => p.getAttribute('d').split('L').length);
    if (shot) await page.screenshot({ path: shot, fullPage: false });
  } finally {
    await browser.close();
  }
  console.log('RESULT ' + JSON.stringify(result));
})().catch((e) => { console.error('report_browser: ' + (e && e.stack || e)); process.exit(2); });
