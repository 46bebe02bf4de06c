// Opens an attnlab report in headless Chromium and checks that it works offline:
//
//   node check_report.mjs REPORT.html SCREENSHOT.png [--explorer] [--expect=ID,ID...]
//
// Fails (exit 1) on any console error or page error, on any request to a URL that is not file:,
// data:, blob: or about: (the request is aborted), and on any [data-chart] element without a
// drawn Vega mark, and when a chart named by --expect (an id prefix, e.g. labels-) is missing.
// With --explorer it also checks that choosing another head in panel A changes the pixels of its
// canvas, and that the lines view draws something else than the heatmap. Saves a full-page screenshot and prints a summary; exit 0 only when
// every check passes. playwright-core comes from analysis/report/web/node_modules (npm install
// there); the browser is the system Chromium.

import path from 'node:path';
import process from 'node:process';
import {createRequire} from 'node:module';
import {fileURLToPath, pathToFileURL} from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB_PACKAGE = path.resolve(HERE, '../../analysis/report/web/package.json');
const CHROMIUM = '/usr/bin/chromium';
const ALLOWED_SCHEMES = ['file:', 'data:', 'blob:', 'about:'];
const CHART_TIMEOUT_MS = 60000;
const USAGE =
    'usage: node check_report.mjs REPORT.html SCREENSHOT.png [--explorer] [--expect=ID,ID...]';

function parseArguments(argv) {
  const positional = argv.filter((argument) => !argument.startsWith('--'));
  const flags = argv.filter((argument) => argument.startsWith('--'));
  const unknown = flags.filter((flag) => flag !== '--explorer' && !flag.startsWith('--expect='));
  if (positional.length !== 2 || unknown.length > 0) {
    console.error(USAGE);
    process.exit(2);
  }
  const expect = flags.filter((flag) => flag.startsWith('--expect='))
      .flatMap((flag) => flag.slice('--expect='.length).split(',')).filter((id) => id !== '');
  return {report: path.resolve(positional[0]), screenshot: path.resolve(positional[1]),
          explorer: flags.includes('--explorer'), expect: expect};
}

// Runs in the page. Counts the drawn items of every chart: children of Vega's data-mark groups
// (class role-mark) only, so axes, legends and titles, which an empty chart also has, never
// count. A path counts when it has geometry (a mark with NaN coordinates draws nothing), a text
// when it has text.
function countChartMarks() {
  return Array.from(document.querySelectorAll('[data-chart]'), (chart) => {
    let marks = 0;
    for (const group of chart.querySelectorAll('svg g.role-mark')) {
      for (const item of group.children) {
        const tag = item.tagName.toLowerCase();
        const frame = item.classList.contains('background') ||
                      item.classList.contains('foreground');
        if (frame) continue;
        if (tag === 'path') {
          const geometry = item.getAttribute('d') || '';
          if (geometry !== '' && !geometry.includes('NaN')) marks++;
        } else if (tag === 'text') {
          if (item.textContent.trim() !== '') marks++;
        } else if (tag === 'line' || tag === 'rect' || tag === 'circle' || tag === 'image') {
          marks++;
        }
      }
    }
    return {id: chart.getAttribute('data-chart'), svg: chart.querySelector('svg') !== null,
            marks: marks};
  });
}

// Runs in the page: FNV-1a over the canvas pixels.
function hashCanvas(id) {
  const canvas = document.getElementById(id);
  if (!canvas) return null;
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 0x811c9dc5;
  for (let i = 0; i < pixels.length; i++) {
    hash ^= pixels[i];
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return {hash: hash.toString(16), drawMs: Number(canvas.dataset.drawMs)};
}

async function checkExplorer(page, failures) {
  if (await page.$('#explorer-a') === null) {
    failures.push('--explorer: the page has no #explorer-a canvas');
    return;
  }
  const before = await page.evaluate(hashCanvas, 'explorer-a');
  const select = await page.$('#explorer-a-head');
  const options = select ? await select.$$eval('option', (items) => items.map((item) => item.value))
                         : [];
  const current = select ? await select.inputValue() : null;
  const other = options.find((value) => value !== current);
  if (other === undefined) {
    failures.push('--explorer: #explorer-a-head offers no other head to choose');
    return;
  }
  await page.selectOption('#explorer-a-head', other);
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve())));
  const after = await page.evaluate(hashCanvas, 'explorer-a');
  console.log(`explorer: head ${current} -> ${other}, ` +
              `canvas hash ${before.hash} -> ${after.hash}, ` +
              `draw ${before.drawMs} ms then ${after.drawMs} ms`);
  if (before.hash === after.hash) {
    failures.push('--explorer: #explorer-a did not change with the head');
  }
  await page.selectOption('#explorer-view', 'lines');
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve())));
  const lines = await page.evaluate(hashCanvas, 'explorer-a');
  console.log(`explorer: lines view, canvas hash ${lines.hash}, draw ${lines.drawMs} ms`);
  if (lines.hash === after.hash) {
    failures.push('--explorer: the lines view drew the same pixels as the heatmap');
  }
  await page.selectOption('#explorer-view', 'heatmap');
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  const {chromium} = createRequire(WEB_PACKAGE)('playwright-core');
  const failures = [];
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
           '--no-first-run'],
  });
  try {
    const page = await browser.newPage({viewport: {width: 1400, height: 1000}});
    page.on('console', (message) => {
      if (message.type() === 'error') failures.push(`console error: ${message.text()}`);
    });
    page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
    const isAllowed = (url) => ALLOWED_SCHEMES.some((scheme) => url.startsWith(scheme));
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (isAllowed(url)) return route.continue();
      failures.push(`network request: ${url}`);
      return route.abort();
    });
    page.on('request', (request) => {
      if (!isAllowed(request.url())) failures.push(`request to ${request.url()}`);
    });

    const started = Date.now();
    await page.goto(pathToFileURL(options.report).href, {waitUntil: 'load'});
    try {
      const allDrawn = `(() => { const charts = (${countChartMarks})();
        return charts.length > 0 && charts.every((chart) => chart.marks > 0); })()`;
      await page.waitForFunction(allDrawn, null, {timeout: CHART_TIMEOUT_MS, polling: 200});
    } catch (error) {
      failures.push(`charts not all drawn within ${CHART_TIMEOUT_MS / 1000} s`);
    }
    const charts = await page.evaluate(countChartMarks);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`charts: ${charts.length} found, drawn in ${seconds} s`);
    for (const chart of charts) {
      console.log(`  ${chart.id}: ${chart.svg ? chart.marks + ' marks' : 'no SVG'}`);
      if (chart.marks === 0) failures.push(`chart ${chart.id} has no drawn mark`);
    }
    if (charts.length === 0) failures.push('the page has no [data-chart] element');
    for (const prefix of options.expect) {
      if (!charts.some((chart) => chart.id.startsWith(prefix))) {
        failures.push(`no chart whose id starts with ${prefix}`);
      }
    }

    if (options.explorer) await checkExplorer(page, failures);
    await page.screenshot({path: options.screenshot, fullPage: true});
    console.log(`screenshot: ${options.screenshot}`);
  } finally {
    await browser.close();
  }

  if (failures.length > 0) {
    console.error(`FAILED (${failures.length}):\n  ` + failures.join('\n  '));
    process.exitCode = 1;
  } else {
    console.log('all checks passed');
  }
}

main().catch((error) => {
  console.error(`check_report: ${error.stack || error}`);
  process.exitCode = 1;
});
