// Turns the data document of `attnlab report` (schema "attnlab-report", version 1; see
// analysis/report/report_data.h) into one self-contained HTML file and, optionally, a static SVG
// per chart.
//
//   node build_report.mjs --data FILE --out REPORT.html [--figures DIR]     (--data - : stdin)
//
// The HTML inlines everything it needs (Vega, Vega-Lite, vega-embed, the styles, charts.js,
// report_app.js and the data), so it opens offline and loads nothing from a URL. Every file is
// written atomically: a reader never sees half a report. Exit codes: 0 done, 2 bad arguments or
// a bad data document, 1 anything else. Run `npm ci` in this directory once first (the libraries
// are pinned in package-lock.json; node_modules is not committed).

import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import {createRequire} from 'node:module';
import {fileURLToPath} from 'node:url';

import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCHEMA = 'attnlab-report';
const SCHEMA_VERSION = 1;
const USAGE = 'usage: node build_report.mjs --data FILE --out REPORT.html [--figures DIR]';

// An error the user can fix (arguments or the data document): exit code 2 instead of 1.
class InputError extends Error {}

function parseArguments(argv) {
  const options = {data: null, out: null, figures: null};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !(name in options)) {
      throw new InputError(`unknown argument "${argv[i]}"\n${USAGE}`);
    }
    if (i + 1 >= argv.length) throw new InputError(`${argv[i]} needs a value\n${USAGE}`);
    options[name] = argv[++i];
  }
  if (!options.data || !options.out) {
    throw new InputError(`--data and --out are required\n${USAGE}`);
  }
  return options;
}

// stdin as a stream: a pipe may be non-blocking, where one synchronous read fails with EAGAIN.
async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

// Checks the parts of the document every chart and the page rely on, so that a wrong file fails
// here with its name instead of as a blank chart in the browser.
async function readDataDocument(file) {
  let text;
  try {
    text = file === '-' ? await readStdin() : fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new InputError(`${file}: cannot read the report data (${error.message})`);
  }
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${file}: not valid JSON (${error.message})`);
  }
  const problems = [];
  const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);
  if (!isObject(doc)) {
    problems.push('the document is not a JSON object');
  } else {
    if (doc.schema !== SCHEMA) {
      problems.push(`schema is ${JSON.stringify(doc.schema)}, expected "${SCHEMA}"`);
    }
    if (doc.version !== SCHEMA_VERSION) {
      problems.push(`version is ${JSON.stringify(doc.version)}, this builder reads version ` +
                    `${SCHEMA_VERSION}`);
    }
    if (doc.comparison !== null && !isObject(doc.comparison)) {
      problems.push('comparison must be null or an object');
    } else if (doc.comparison && !Array.isArray(doc.comparison.groups)) {
      problems.push('comparison.groups must be an array');
    }
    if (doc.bench_attention !== null && !isObject(doc.bench_attention)) {
      problems.push('bench_attention must be null or an object');
    } else if (doc.bench_attention && !Array.isArray(doc.bench_attention.rows)) {
      problems.push('bench_attention.rows must be an array');
    }
    if (!Array.isArray(doc.curves)) problems.push('curves must be an array');
    if (!Array.isArray(doc.runs)) {
      problems.push('runs must be an array');
    } else {
      doc.runs.forEach((run, index) => {
        if (!isObject(run) || typeof run.name !== 'string') {
          problems.push(`runs[${index}] must be an object with a name`);
        } else if (!Array.isArray(run.steps) || !Array.isArray(run.layers)) {
          problems.push(`runs[${index}] (${run.name}) needs steps and layers arrays`);
        }
      });
    }
  }
  if (problems.length > 0) {
    throw new InputError(`${file}: not an ${SCHEMA} version ${SCHEMA_VERSION} document:\n  ` +
                         problems.join('\n  '));
  }
  return doc;
}

// Temporary file beside the target, flushed to disk, then renamed over it; never left behind.
function writeAtomically(file, content, announce = true) {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const descriptor = fs.openSync(temporary, 'w');
    try {
      fs.writeFileSync(descriptor, content);
      fs.fsyncSync(descriptor);
    } finally {
      fs.closeSync(descriptor);
    }
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, {force: true});
    throw error;
  }
  if (announce) console.log(`written ${file}`);
}

// Inline text must not end its <script> early. In JavaScript only "</script" and "<!--" matter to
// the HTML parser, and escaping every "</" would break the libraries (vega-embed has the regular
// expression /</g): "<\/script" and "<\!--" mean the same in a string, a template or a regular
// expression. In the JSON data, where every "<" sits inside a string, "</" becomes "<\/" and
// "<!--" becomes "\u003c!--", both valid JSON escapes.
function inlineScript(text) {
  return text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

function inlineJson(doc) {
  return JSON.stringify(doc).replace(/<\//g, '<\\/').replace(/<!--/g, '\\u003c!--');
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (character) =>
    ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[character]);
}

// Every figure into a fresh folder beside `directory`; publishFigures() puts it in place once the
// page is written, so the figures of one report never mix with an older report's.
async function renderFigures(charts, directory) {
  const staging = `${directory}.${process.pid}.tmp`;
  fs.rmSync(staging, {recursive: true, force: true});
  fs.mkdirSync(staging, {recursive: true});
  try {
    for (const chart of charts) {
      const view = new vega.View(vega.parse(vegaLite.compile(chart.spec).spec),
                                 {renderer: 'none'});
      const svg = await view.toSVG();
      view.finalize();
      writeAtomically(path.join(staging, `${chart.id}.svg`), svg, false);
    }
  } catch (error) {
    fs.rmSync(staging, {recursive: true, force: true});
    throw error;
  }
  return staging;
}

function publishFigures(staging, directory, count) {
  const previous = `${directory}.${process.pid}.old`;
  if (fs.existsSync(directory)) fs.renameSync(directory, previous);
  fs.renameSync(staging, directory);
  fs.rmSync(previous, {recursive: true, force: true});
  console.log(`written ${count} figures in ${directory}`);
}

function renderHtml(doc) {
  // The browser builds are not in the packages' "exports", so they are read by path.
  const library = (name, file) =>
    fs.readFileSync(path.join(HERE, 'node_modules', name, 'build', file), 'utf8');
  const local = (file) => fs.readFileSync(path.join(HERE, file), 'utf8');
  const parts = {
    title: escapeHtml(doc.title || 'attnlab report'),
    css: local('report.css').replace(/<\/style/gi, '<\\/style'),
    vega: inlineScript(library('vega', 'vega.min.js')),
    vega_lite: inlineScript(library('vega-lite', 'vega-lite.min.js')),
    vega_embed: inlineScript(library('vega-embed', 'vega-embed.min.js')),
    charts: inlineScript(local('charts.js')),
    app: inlineScript(local('report_app.js')),
    data: inlineJson(doc),
  };
  // One pass over the template only: inserted text is never searched for placeholders again, and a
  // replacement function keeps "$&"-like sequences in the libraries literal.
  return local('report.html').replace(/\{\{(\w+)\}\}/g, (placeholder, name) => {
    if (!(name in parts)) throw new Error(`report.html: unknown placeholder ${placeholder}`);
    return parts[name];
  });
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  const doc = await readDataDocument(options.data);
  const charts = createRequire(import.meta.url)('./charts.js').buildCharts(doc);
  const outDirectory = path.dirname(path.resolve(options.out));
  if (!fs.existsSync(outDirectory)) fs.mkdirSync(outDirectory, {recursive: true});
  const staging = options.figures ? await renderFigures(charts, options.figures) : null;
  try {
    writeAtomically(options.out, renderHtml(doc));
  } catch (error) {
    if (staging) fs.rmSync(staging, {recursive: true, force: true});
    throw error;
  }
  if (staging) publishFigures(staging, options.figures, charts.length);
}

main().catch((error) => {
  // A file system error (it has a code, e.g. EACCES) is told in one line; anything else is a bug,
  // whose stack helps.
  const known = error instanceof InputError || error.code !== undefined;
  console.error(`build_report: ${known ? error.message : error.stack}`);
  process.exitCode = error instanceof InputError ? 2 : 1;
});
