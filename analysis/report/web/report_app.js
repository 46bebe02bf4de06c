// The page of the attnlab report. Reads the data document from the inline
// <script id="report-data"> (schema "attnlab-report", version 1; analysis/report/report_data.h)
// and builds everything from it: the header, the comparison table, the charts of charts.js
// (embedded with vega-embed) and the attention explorer. Needs no network: the libraries are
// inline too.
//
// Explorer dimensions: S = stored snapshots, B' = stored probe samples, H = heads of a layer,
// rows x cols = stored cells of a map (T / block per side, rounded up).

(function () {
  'use strict';

  const EMBED_OPTIONS = {
    renderer: 'svg',
    mode: 'vega-lite',
    actions: {export: true, source: false, compiled: false, editor: false},
  };

  // ---- small helpers ----------------------------------------------------------------------------

  function isNumber(value) {
    return typeof value === 'number' && Number.isFinite(value);
  }

  // element('p', {class: 'note'}, 'text', child, ...): children may be strings, nodes or nulls.
  function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, value);
    }
    for (const child of children.flat(Infinity)) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  // Digits chosen from the size of the mean, shared by its interval so the two line up.
  function decimalsFor(value) {
    const magnitude = Math.abs(value);
    if (magnitude >= 1000) return 0;
    if (magnitude >= 100) return 1;
    if (magnitude >= 1) return 2;
    if (magnitude >= 0.01 || magnitude === 0) return 4;
    return null;  // tiny: significant digits instead
  }

  function formatNumber(value, decimals) {
    if (!isNumber(value)) return '–';
    const digits = decimals === undefined ? decimalsFor(value) : decimals;
    if (digits === null) return value.toPrecision(3);
    return value.toLocaleString('en-US', {minimumFractionDigits: digits,
                                          maximumFractionDigits: digits});
  }

  function formatMeanInterval(metric) {
    if (!metric || !isNumber(metric.mean)) return '–';
    const decimals = decimalsFor(metric.mean);
    const mean = formatNumber(metric.mean, decimals);
    return isNumber(metric.ci95) ? mean + ' ± ' + formatNumber(metric.ci95, decimals) : mean;
  }

  function reportError(container, message, error) {
    console.error(message, error);
    container.append(element('p', {class: 'error'}, message + (error ? ': ' + error.message : '')));
  }

  // ---- header -----------------------------------------------------------------------------------

  function mapsNote(doc) {
    if (doc.maps_mode === 'none') {
      return 'Attention maps were not stored in this report (maps: none); the per-head ' +
             'statistics and labels come from the dumps.';
    }
    const which = doc.maps_mode === 'all' ? 'every snapshot' : 'selected snapshots only';
    return 'Attention maps are stored for ' + which + ', as 8-bit values relative to each ' +
           'map\'s largest weight; a map with a side longer than ' + doc.map_size +
           ' is stored as block means (the explorer says when).';
  }

  function header(doc, sections) {
    const facts = [
      ['kind', doc.kind], ['source', doc.source], ['created', doc.created],
      ['attnlab', doc.attnlab_version],
    ];
    return element('header', {class: 'report-header'},
      element('h1', null, doc.title || 'attnlab report'),
      element('dl', {class: 'facts'},
        facts.map(([name, value]) => [element('dt', null, name),
                                      element('dd', null, String(value ?? '–'))])),
      element('p', {class: 'note'}, mapsNote(doc)),
      element('nav', null, sections.map(([id, title]) => element('a', {href: '#' + id}, title))));
  }

  // ---- charts -----------------------------------------------------------------------------------

  // Embeds one chart; resolves to its vega-embed result (null when it failed, which the page
  // shows under the chart's name and the console logs).
  function embedChart(container, chart) {
    const body = element('div', {class: 'chart-body'});
    const figure = element('figure', {class: 'chart', 'data-chart': chart.id}, body,
                           element('figcaption', null, chart.id + '.svg'));
    container.append(figure);
    const options = Object.assign({downloadFileName: chart.id}, EMBED_OPTIONS);
    return vegaEmbed(body, chart.spec, options).catch((error) => {
      reportError(figure, 'chart ' + chart.id + ' could not be drawn', error);
      return null;
    });
  }

  function chartGrid(charts) {
    const grid = element('div', {class: 'chart-grid'});
    for (const chart of charts) embedChart(grid, chart);
    return grid;
  }

  // ---- comparison -------------------------------------------------------------------------------

  function compareTable(comparison) {
    const metrics = comparison.metrics || [];
    const groups = comparison.groups || [];
    const columns = [
      {title: 'rank', value: (group) => group.rank, numeric: true},
      {title: 'task', value: (group) => group.task},
      {title: 'group', value: (group) => group.label},
      {title: 'runs', value: (group) => group.runs, numeric: true},
    ];
    for (const key of comparison.varying_keys || []) {
      columns.push({title: key, value: (group) => (group.keys || {})[key]});
    }
    for (const metric of metrics) {
      columns.push({
        title: metric.name + (metric.higher_is_better ? ' ↑' : ' ↓'),
        tooltip: (metric.higher_is_better ? 'higher' : 'lower') + ' is better; mean ± 95% CI',
        value: (group) => ((group.metrics || {})[metric.name] || {}).mean,
        text: (group) => formatMeanInterval((group.metrics || {})[metric.name]),
        metric: metric, numeric: true,
      });
    }

    // The best mean of each metric within a task, marked in the table: every group that reaches
    // it, unless they all do (a lone group, or a metric they share like a parameter count).
    const best = new Set();
    // Labels repeat across tasks (they leave the task out): a cell is its task's, group's and
    // metric's.
    const bestKey = (group, metric) => [group.task, group.label, metric.name].join('\u0000');
    const meanOf = (group, metric) => ((group.metrics || {})[metric.name] || {}).mean;
    for (const metric of metrics) {
      for (const task of new Set(groups.map((group) => group.task))) {
        const measured = groups.filter((group) =>
          group.task === task && isNumber(meanOf(group, metric)));
        const means = measured.map((group) => meanOf(group, metric));
        const target = metric.higher_is_better ? Math.max(...means) : Math.min(...means);
        const winners = measured.filter((group) => meanOf(group, metric) === target);
        if (winners.length === measured.length) continue;
        for (const group of winners) best.add(bestKey(group, metric));
      }
    }

    const body = element('tbody');
    const headRow = element('tr');
    const table = element('table', {class: 'compare'}, element('thead', null, headRow), body);
    let sortColumn = null;
    let descending = false;

    function compareValues(a, b) {
      const missingA = a === null || a === undefined || (typeof a === 'number' && !isNumber(a));
      const missingB = b === null || b === undefined || (typeof b === 'number' && !isNumber(b));
      if (missingA || missingB) return missingA - missingB;  // missing values last either way
      const order = typeof a === 'number' && typeof b === 'number'
          ? a - b : String(a).localeCompare(String(b), undefined, {numeric: true});
      return descending ? -order : order;
    }

    // Before any click: tasks in their first order, best rank first within each.
    const taskOrder = Array.from(new Set(groups.map((group) => group.task)));
    const initialOrder = groups.slice().sort((a, b) =>
      taskOrder.indexOf(a.task) - taskOrder.indexOf(b.task) ||
      (a.rank ?? Infinity) - (b.rank ?? Infinity));

    function render() {
      const rows = initialOrder.slice();
      if (sortColumn) {
        rows.sort((a, b) => compareValues(sortColumn.value(a), sortColumn.value(b)));
      }
      body.replaceChildren(...rows.map((group) => element('tr', null, columns.map((column) => {
        const text = column.text ? column.text(group) : String(column.value(group) ?? '–');
        const isBest = column.metric && best.has(bestKey(group, column.metric));
        return element('td', {class: [column.numeric ? 'number' : null, isBest ? 'best' : null]
                                       .filter(Boolean).join(' ') || null}, text);
      }))));
      headRow.querySelectorAll('th').forEach((cell, index) => {
        const sorted = columns[index] === sortColumn;
        cell.setAttribute('aria-sort', sorted ? (descending ? 'descending' : 'ascending') : 'none');
      });
    }

    for (const column of columns) {
      const cell = element('th', {title: (column.tooltip ? column.tooltip + '; ' : '') +
                                          'click to sort'},
                           column.title.replace(/_/g, '_\u200b'));  // a place to wrap
      cell.addEventListener('click', () => {
        if (sortColumn === column) {
          descending = !descending;
        } else {
          sortColumn = column;
          // Metrics sort best first; everything else ascending.
          descending = column.metric ? column.metric.higher_is_better : false;
        }
        render();
      });
      headRow.append(cell);
    }
    render();
    return element('div', {class: 'table-scroll'}, table);
  }

  function comparisonSection(doc, charts) {
    const comparison = doc.comparison;
    const section = element('section', {id: 'comparison'},
      element('h2', null, 'Comparison'),
      element('p', {class: 'note'},
              'One row per group of runs that differ only in their seed: mean ± 95% confidence ' +
              'interval (t-based) over the completed runs. ↑ / ↓: higher / lower is better; the ' +
              'best mean of each task is bold. Click a column header to sort.'),
      compareTable(comparison));
    const notCompleted = comparison.not_completed || [];
    if (notCompleted.length > 0) {
      section.append(element('h3', null, 'Runs not completed (' + notCompleted.length + ')'),
        element('ul', {class: 'not-completed'}, notCompleted.map((run) =>
          element('li', null, element('code', null, run.dir), ' — ' + run.status))));
    }
    const skipped = doc.skipped_dumps || [];
    if (skipped.length > 0) {
      section.append(element('h3', null, 'Attention dumps left out (' + skipped.length + ')'),
        element('ul', {class: 'not-completed'}, skipped.map((note) => element('li', null, note))));
    }
    for (const task of new Set(charts.map((chart) => chart.task))) {
      section.append(element('h3', null, 'Task ' + task),
                     chartGrid(charts.filter((chart) => chart.task === task)));
    }
    return section;
  }

  function benchmarkSection(doc, charts) {
    return element('section', {id: 'benchmark'},
      element('h2', null, 'Attention benchmark'),
      element('p', {class: 'note'},
              'From ', element('code', null, doc.bench_attention.source || '–'),
              ': time and peak memory of one forward and backward pass of the attention alone.'),
      chartGrid(charts));
  }

  // ---- runs -------------------------------------------------------------------------------------

  // "maps: distributions", or each layer's map kind when they differ from that.
  function mapKinds(run) {
    const layers = run.layers || [];
    const kindOf = (layer) => layer.map_kind || 'distribution';
    if (layers.every((layer) => kindOf(layer) === 'distribution')) return 'maps: distributions';
    return 'map kinds: ' + layers.map((layer) => 'L' + layer.index + ' ' + kindOf(layer))
        .join(', ') + ' (statistics of the others on |A| row-normalised)';
  }

  function runDescription(run) {
    const steps = run.steps || [];
    const parts = [
      run.group ? 'group ' + run.group : null, 'task ' + run.task, 'variant ' + run.variant,
      'seed ' + run.seed, (run.layers || []).length + ' attention layers', run.heads + ' heads',
      mapKinds(run),
      steps.length + ' snapshots' + (steps.length ? ' (steps ' + steps[0] + '–' +
                                     steps[steps.length - 1] + ')' : ''),
    ];
    return element('p', {class: 'note'}, parts.filter(Boolean).join(' · '), ' · dump ',
                   element('code', null, run.dump));
  }

  // One run's charts at a time: a sweep may hold dozens of dumps, and embedding every run's
  // charts at once would make the page slow to open.
  function runsSection(doc, charts) {
    const runs = doc.runs;
    const content = element('div');
    const section = element('section', {id: 'runs'},
      element('h2', null, 'Runs with attention dumps'),
      element('p', {class: 'note'},
              'Per-head statistics of each dump as layers x heads grids; the slider under a grid ' +
              'moves through the snapshots (it starts at the last one, like the static figures).'));
    let embedded = [];

    function show(runIndex) {
      for (const result of embedded) {
        if (result) result.finalize();
      }
      content.replaceChildren(runDescription(runs[runIndex]));
      const grid = element('div', {class: 'chart-grid'});
      content.append(grid);
      embedded = [];
      for (const chart of charts.filter((candidate) => candidate.run === runIndex)) {
        embedChart(grid, chart).then((result) => embedded.push(result));
      }
    }

    if (runs.length > 1) {
      const select = element('select', {id: 'run-select'},
        runs.map((run, index) => element('option', {value: index}, AttnlabCharts.runLabel(run))));
      select.addEventListener('change', () => show(Number(select.value)));
      section.append(element('label', {class: 'control'}, 'run ', select));
    }
    section.append(content);
    show(0);
    return section;
  }

  // ---- attention explorer -----------------------------------------------------------------------

  const MAP_AREA = 560;             // px, longest side of a heatmap
  const HEATMAP_MARGIN = {left: 56, top: 36, right: 8, bottom: 8};
  const LINES_SIZE = 600;           // px, square canvas of the lines view
  const LINES_WINDOW = 64;          // most positions the lines view shows
  const LINE_THRESHOLD = 5;         // q below 5/255 (~2% of the largest weight): no line

  // Sequential palette for q = 0..255, white at zero so masked and unused keys read as empty.
  // Bytes in ImageData order (RGBA); the Uint32 view writes one pixel per store regardless of the
  // machine's byte order.
  const PALETTE_STOPS = ['#ffffff', '#edf8b1', '#c7e9b4', '#7fcdbb', '#41b6c4', '#1d91c0',
                         '#225ea8', '#253494', '#081d58'];
  const PALETTE_BYTES = new Uint8Array(256 * 4);
  const PALETTE = new Uint32Array(PALETTE_BYTES.buffer);
  (function fillPalette() {
    const stops = PALETTE_STOPS.map((hex) =>
      [1, 3, 5].map((start) => parseInt(hex.slice(start, start + 2), 16)));
    for (let q = 0; q < 256; q++) {
      const position = q / 255 * (stops.length - 1);
      const low = Math.min(Math.floor(position), stops.length - 2);
      const fraction = position - low;
      for (let channel = 0; channel < 3; channel++) {
        PALETTE_BYTES[q * 4 + channel] =
            Math.round(stops[low][channel] * (1 - fraction) + stops[low + 1][channel] * fraction);
      }
      PALETTE_BYTES[q * 4 + 3] = 255;
    }
  })();

  function decodeBase64(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // A step of about count ticks over length positions: 1, 2 or 5 times a power of ten.
  function tickStep(length, count) {
    const raw = Math.max(1, length / count);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const factor of [1, 2, 5, 10]) {
      if (factor * power >= raw) return factor * power;
    }
    return 10 * power;
  }

  function arraysEqual(a, b) {
    if (a === b) return true;
    if (!a || !b || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) return false;
    }
    return true;
  }

  // H of a stored map layer, from the shape of its scale array [S][B'][H].
  function headCount(mapLayer) {
    const first = ((mapLayer.scale || [])[0] || [])[0];
    return Array.isArray(first) ? first.length : 0;
  }

  function explorerSection(doc) {
    const mapRuns = doc.runs
        .map((run, runIndex) => ({run: run, runIndex: runIndex}))
        .filter((entry) => entry.run.maps && (entry.run.maps.layers || []).length > 0 &&
                           (entry.run.maps.snapshots || []).length > 0);
    const decodedLayers = new Map();  // "run/layer position" -> Uint8Array [S][B'][H][rows][cols]
    const shared = {sample: 0, view: 'heatmap'};

    // Queries of an encoder self-attention layer are the source tokens, when the run has a source
    // (its role: docs/recording.md); cross-attention's keys are the source tokens.
    function tokenLists(run, mapLayer, sample) {
      const maps = run.maps;
      const target = (maps.tokens || [])[sample] || [];
      const source = maps.source ? maps.source[sample] || null : null;
      const info = (run.layers || []).find((layer) => layer.index === mapLayer.layer) || {};
      const queries = source && info.role === 'encoder_self' ? source : target;
      return {queries: queries, keys: info.role === 'cross' && source ? source : queries};
    }

    // Token at a query or key position; lists aligned at the end, since query i sits at key
    // position i + Tk - Tq.
    function tokenAt(list, position, length) {
      const index = position - (length - list.length);
      return index >= 0 && index < list.length ? list[index] : '?';
    }

    function layerBytes(entry, layerPosition) {
      const key = entry.runIndex + '/' + layerPosition;
      if (!decodedLayers.has(key)) {
        decodedLayers.set(key, decodeBase64(entry.run.maps.layers[layerPosition].data || ''));
      }
      return decodedLayers.get(key);
    }

    // Everything needed to draw or describe the panel's current map, or {error}.
    function currentMap(panel) {
      const entry = mapRuns[panel.entry];
      const run = entry.run;
      const maps = run.maps;
      const mapLayer = maps.layers[panel.layer];
      const snapshotCount = (maps.snapshots || []).length;                  // S
      const sampleCount = (maps.samples || []).length;                      // B'
      const heads = headCount(mapLayer);                                    // H
      const rows = mapLayer.rows;
      const cols = mapLayer.cols;
      const bytes = layerBytes(entry, panel.layer);
      const expected = snapshotCount * sampleCount * heads * rows * cols;
      if (bytes.length !== expected) {
        return {error: 'the stored map of ' + AttnlabCharts.runLabel(run) + ' layer ' +
                       mapLayer.layer + ' has ' + bytes.length +
                       ' bytes, expected S x B\' x H x rows x cols = ' + expected};
      }
      if (shared.sample >= sampleCount) {
        return {error: AttnlabCharts.runLabel(run) + ' has no probe sample ' + shared.sample};
      }
      const offset = (((panel.snapshot * sampleCount + shared.sample) * heads + panel.head) *
                      rows * cols);
      const tokens = tokenLists(run, mapLayer, shared.sample);
      return {
        run: run, mapLayer: mapLayer, rows: rows, cols: cols, block: mapLayer.block || 1,
        bytes: bytes, offset: offset, heads: heads, tokens: tokens,
        scale: mapLayer.scale[panel.snapshot][shared.sample][panel.head],
        step: (run.steps || [])[maps.snapshots[panel.snapshot]],
      };
    }

    // "query 37 (token 12)" or, for a block-averaged cell, "queries 36–39 (tokens 12 4 5 9)".
    function describePositions(map, cell, side) {
      const length = side === 'query' ? map.mapLayer.query_length : map.mapLayer.key_length;
      const list = side === 'query' ? map.tokens.queries : map.tokens.keys;
      const first = cell * map.block;
      const last = Math.min(first + map.block, length) - 1;
      if (first === last) {
        return side + ' ' + first + ' (token ' + tokenAt(list, first, length) + ')';
      }
      const shown = [];
      for (let position = first; position <= Math.min(last, first + 7); position++) {
        shown.push(tokenAt(list, position, length));
      }
      return (side === 'query' ? 'queries ' : 'keys ') + first + '–' + last + ' (tokens ' +
             shown.join(' ') + (last > first + 7 ? ' …' : '') + ')';
    }

    function describeCell(map, row, col) {
      const q = map.bytes[map.offset + row * map.cols + col];
      return describePositions(map, row, 'query') + ' → ' + describePositions(map, col, 'key') +
             ': ' + (map.block > 1 ? 'mean weight ' : 'weight ') +
             formatNumber(q / 255 * map.scale, 4) + ' (' + q + '/255 of the largest)';
    }

    // Sizes the canvas (which clears it) and paints it white, so a saved PNG has a background.
    function prepareCanvas(canvas, width, height) {
      canvas.width = Math.ceil(width);
      canvas.height = Math.ceil(height);
      const context = canvas.getContext('2d');
      context.fillStyle = '#ffffff';
      context.fillRect(0, 0, canvas.width, canvas.height);
      return context;
    }

    function drawHeatmap(panel, map) {
      // One pixel per cell into an offscreen canvas, then one scaled copy without smoothing:
      // a 1024 x 1024 map is one pass over a Uint8Array, not a million fillRect calls.
      const offscreen = panel.offscreen;
      if (offscreen.width !== map.cols || offscreen.height !== map.rows) {
        offscreen.width = map.cols;
        offscreen.height = map.rows;
      }
      const offscreenContext = offscreen.getContext('2d');
      const image = offscreenContext.createImageData(map.cols, map.rows);
      const pixels = new Uint32Array(image.data.buffer);
      const cellCount = map.rows * map.cols;
      for (let i = 0; i < cellCount; i++) pixels[i] = PALETTE[map.bytes[map.offset + i]];
      offscreenContext.putImageData(image, 0, 0);

      let cell = MAP_AREA / Math.max(map.cols, map.rows);
      if (cell >= 1) cell = Math.floor(cell);  // whole pixels: every cell drawn the same size
      const geometry = {x: HEATMAP_MARGIN.left, y: HEATMAP_MARGIN.top, cell: cell,
                        width: map.cols * cell, height: map.rows * cell};
      const context = prepareCanvas(panel.elements.canvas,
        HEATMAP_MARGIN.left + geometry.width + HEATMAP_MARGIN.right,
        HEATMAP_MARGIN.top + geometry.height + HEATMAP_MARGIN.bottom);
      // Enlarged cells stay sharp squares. A map larger than the canvas is averaged down instead:
      // dropping cells would break thin patterns such as a previous-token diagonal into dots.
      context.imageSmoothingEnabled = cell < 1;
      context.imageSmoothingQuality = 'high';
      context.drawImage(offscreen, 0, 0, map.cols, map.rows,
                        geometry.x, geometry.y, geometry.width, geometry.height);
      context.strokeStyle = '#999';
      context.strokeRect(geometry.x - 0.5, geometry.y - 0.5,
                         geometry.width + 1, geometry.height + 1);

      // Ticks in token positions, whatever the block size.
      context.fillStyle = '#333';
      context.font = '11px system-ui, sans-serif';
      const pixelsPerPosition = cell / map.block;
      const keyLength = map.mapLayer.key_length;
      const queryLength = map.mapLayer.query_length;
      context.textAlign = 'center';
      context.textBaseline = 'bottom';
      const keyStep = tickStep(keyLength, 6);
      for (let position = 0; position < keyLength; position += keyStep) {
        context.fillText(String(position), geometry.x + (position + 0.5) * pixelsPerPosition,
                         geometry.y - 3);
      }
      context.textAlign = 'right';
      context.textBaseline = 'middle';
      const queryStep = tickStep(queryLength, 6);
      for (let position = 0; position < queryLength; position += queryStep) {
        context.fillText(String(position), geometry.x - 4,
                         geometry.y + (position + 0.5) * pixelsPerPosition);
      }
      context.fillStyle = '#666';
      context.textAlign = 'center';
      context.textBaseline = 'top';
      context.fillText('key position', geometry.x + geometry.width / 2, 2);
      context.save();
      context.translate(2, geometry.y + geometry.height / 2);
      context.rotate(-Math.PI / 2);
      context.fillText('query position', 0, 0);
      context.restore();
      return geometry;
    }

    // The window of positions (cells) the lines view shows: at most LINES_WINDOW per side,
    // starting at the slider's value.
    function linesWindow(panel, map) {
      const querySize = Math.min(LINES_WINDOW, map.rows);
      const keySize = Math.min(LINES_WINDOW, map.cols);
      const queryStart = Math.min(panel.windowStart, map.rows - querySize);
      const keyStart = Math.min(panel.windowStart, map.cols - keySize);
      return {queryStart: queryStart, querySize: querySize, keyStart: keyStart, keySize: keySize};
    }

    function positionLabel(map, cell, side) {
      if (map.block > 1) return String(cell * map.block);
      const length = side === 'query' ? map.mapLayer.query_length : map.mapLayer.key_length;
      return String(tokenAt(side === 'query' ? map.tokens.queries : map.tokens.keys, cell, length));
    }

    function drawLines(panel, map) {
      const context = prepareCanvas(panel.elements.canvas, LINES_SIZE, LINES_SIZE);
      const span = linesWindow(panel, map);
      const top = 24;
      const usable = LINES_SIZE - top - 10;
      const queryRow = usable / span.querySize;
      const keyRow = usable / span.keySize;
      const leftX = 130;
      const rightX = LINES_SIZE - 130;
      const geometry = {top: top, queryRow: queryRow, keyRow: keyRow, leftX: leftX, rightX: rightX,
                        span: span};
      const queryY = (index) => top + (index + 0.5) * queryRow;
      const keyY = (index) => top + (index + 0.5) * keyRow;

      context.lineWidth = 1.5;
      for (let i = 0; i < span.querySize; i++) {
        const row = span.queryStart + i;
        const focused = panel.hoverQuery === null || panel.hoverQuery === row;
        for (let j = 0; j < span.keySize; j++) {
          const q = map.bytes[map.offset + row * map.cols + span.keyStart + j];
          if (q < LINE_THRESHOLD) continue;
          context.strokeStyle = 'rgba(34, 94, 168, ' + (q / 255 * (focused ? 1 : 0.08)) + ')';
          context.beginPath();
          context.moveTo(leftX, queryY(i));
          context.lineTo(rightX, keyY(j));
          context.stroke();
        }
      }

      context.font = Math.max(7, Math.min(12, Math.floor(Math.min(queryRow, keyRow)) - 1)) +
                     'px system-ui, sans-serif';
      context.textBaseline = 'middle';
      context.fillStyle = '#222';
      context.textAlign = 'right';
      for (let i = 0; i < span.querySize; i++) {
        const row = span.queryStart + i;
        context.fillStyle = panel.hoverQuery === row ? '#c0392b' : '#222';
        context.fillText(positionLabel(map, row, 'query'), leftX - 6, queryY(i));
      }
      context.fillStyle = '#222';
      context.textAlign = 'left';
      for (let j = 0; j < span.keySize; j++) {
        context.fillText(positionLabel(map, span.keyStart + j, 'key'), rightX + 6, keyY(j));
      }
      context.fillStyle = '#666';
      context.font = '11px system-ui, sans-serif';
      context.textBaseline = 'top';
      context.textAlign = 'right';
      context.fillText('queries', leftX - 6, 4);
      context.textAlign = 'left';
      context.fillText('keys', rightX + 6, 4);
      return geometry;
    }

    function drawPanel(panel) {
      const started = performance.now();
      const elements = panel.elements;
      const map = currentMap(panel);
      panel.map = map;
      if (map.error) {
        prepareCanvas(elements.canvas, LINES_SIZE, LINES_SIZE);
        elements.notes.replaceChildren(element('p', {class: 'error'}, map.error));
        console.error('attention explorer: ' + map.error);
        panel.geometry = null;
        return;
      }
      const lines = shared.view === 'lines';
      panel.geometry = lines ? drawLines(panel, map) : drawHeatmap(panel, map);
      const elapsed = performance.now() - started;
      // Read by tests/report/check_report.mjs to report the drawing time.
      elements.canvas.dataset.drawMs = elapsed.toFixed(2);

      const layer = map.mapLayer;
      const notes = [element('p', null,
        AttnlabCharts.runLabel(map.run) + ' · step ' + map.step + ' · layer ' + layer.layer +
        ' · head ' + panel.head + ' · sample ' + shared.sample +
        ' (probe example ' + map.run.maps.samples[shared.sample] + ')')];
      if (!lines) {
        const colourBar = element('span', {class: 'colour-bar'});
        colourBar.style.background = 'linear-gradient(to right, ' + PALETTE_STOPS.join(', ') + ')';
        notes.push(element('p', null, 'colour: weight relative to this map\'s largest, 0 ',
                           colourBar, ' largest = ' + formatNumber(map.scale, 4)));
      }
      const info = (map.run.layers || []).find((candidate) => candidate.index === layer.layer);
      if (info && info.map_kind && info.map_kind !== 'distribution') {
        notes.push(element('p', {class: 'warning'},
          'a ' + info.map_kind + ' map: its rows are not probabilities' +
          (layer.values === '|A|' ? '; shown is |A|, the magnitude of each weight' : '') +
          '. Its statistics and labels are on |A| row-normalised, its row mass in row_mass.'));
      }
      if (map.block > 1) {
        const lengths = layer.query_length === layer.key_length
            ? 'T = ' + layer.query_length
            : 'Tq = ' + layer.query_length + ', Tk = ' + layer.key_length;
        notes.push(element('p', {class: 'warning'},
          'downsampled: each cell is the mean of a ' + map.block + ' x ' + map.block + ' block (' +
          lengths + ' -> ' + map.rows + ' x ' + map.cols + ')'));
      }
      if (!lines && panel.geometry.cell < 1) {
        notes.push(element('p', null, 'the canvas is smaller than the map (' + map.rows + ' x ' +
                           map.cols + ' cells): its pixels blend neighbouring cells; hover reads ' +
                           'single cells'));
      }
      if (lines) {
        const span = panel.geometry.span;
        const unit = map.block > 1 ? 'cells (' + map.block + ' tokens each; labels: first position)'
                                   : 'positions (labels: token ids)';
        notes.push(element('p', null,
          'lines: ' + unit + ' ' + span.queryStart + '–' + (span.queryStart + span.querySize - 1) +
          ' of ' + map.rows + ' — a window of at most ' + LINES_WINDOW +
          ', moved with the slider below; one line per weight of at least ' + LINE_THRESHOLD +
          '/255 of the largest (' + formatNumber(map.scale, 4) + '), opacity ∝ weight; keys ' +
          'outside the window are not drawn. Hover a query to isolate it.'));
        const maximum = Math.max(0, Math.max(map.rows, map.cols) - LINES_WINDOW);
        elements.windowSlider.max = String(maximum);
        elements.windowSlider.value = String(Math.min(panel.windowStart, maximum));
        elements.windowSlider.disabled = maximum === 0;
      }
      elements.windowControl.hidden = !lines;
      elements.notes.replaceChildren(...notes);
    }

    function fillSelect(select, labels, value) {
      select.replaceChildren(...labels.map((label, index) =>
        element('option', {value: index}, label)));
      select.value = String(value);
    }

    // Clamps the panel's choices to what its run offers and rebuilds its selects.
    function syncPanelControls(panel) {
      const elements = panel.elements;
      const run = mapRuns[panel.entry].run;
      const maps = run.maps;
      panel.snapshot = Math.min(panel.snapshot, maps.snapshots.length - 1);
      panel.layer = Math.min(panel.layer, maps.layers.length - 1);
      const mapLayer = maps.layers[panel.layer];
      const heads = Math.max(headCount(mapLayer), 1);
      panel.head = Math.min(panel.head, heads - 1);
      fillSelect(elements.run, mapRuns.map((entry) => AttnlabCharts.runLabel(entry.run)),
                 panel.entry);
      fillSelect(elements.snapshot, maps.snapshots.map((snapshot) =>
        'step ' + (run.steps || [])[snapshot]), panel.snapshot);
      fillSelect(elements.layer, maps.layers.map((layer) => {
        const info = (run.layers || []).find((candidate) => candidate.index === layer.layer) || {};
        return 'L' + layer.layer + (info.kind ? ' ' + info.kind : '') +
               (info.causal ? ' causal' : '') +
               (info.map_kind && info.map_kind !== 'distribution' ? ' ' + info.map_kind : '') +
               ' (' + layer.query_length + ' x ' + layer.key_length + ')';
      }), panel.layer);
      fillSelect(elements.head, Array.from({length: heads}, (unused, head) => 'H' + head),
                 panel.head);
    }

    const sampleSelect = element('select', {id: 'explorer-sample'});
    const viewSelect = element('select', {id: 'explorer-view'},
      element('option', {value: 'heatmap'}, 'heatmap'),
      element('option', {value: 'lines'}, 'lines'));
    const differenceNote = element('p', {class: 'warning', id: 'explorer-difference'});

    // The sample choice is shared: offer the indices both panels' runs have.
    function syncSharedControls() {
      const counts = panels.map((panel) => mapRuns[panel.entry].run.maps.samples.length);
      const count = Math.max(1, Math.min(...counts));
      shared.sample = Math.min(shared.sample, count - 1);
      const samples = mapRuns[panels[0].entry].run.maps.samples;
      fillSelect(sampleSelect, Array.from({length: count}, (unused, index) =>
        'sample ' + index + ' (probe example ' + samples[index] + ')'), shared.sample);

      const [runA, runB] = panels.map((panel) => mapRuns[panel.entry].run);
      const differences = [];
      if (runA !== runB) {
        const sample = shared.sample;
        if (runA.maps.samples[sample] !== runB.maps.samples[sample]) {
          differences.push('different probe examples (' + runA.maps.samples[sample] + ' and ' +
                           runB.maps.samples[sample] + ')');
        }
        if (!arraysEqual(runA.maps.tokens[sample], runB.maps.tokens[sample]) ||
            !arraysEqual((runA.maps.source || [])[sample], (runB.maps.source || [])[sample])) {
          differences.push('different probe tokens');
        }
      }
      differenceNote.textContent = differences.length
          ? 'The two runs\' inputs differ for this sample: ' + differences.join(' and ') +
            '; the panels do not show the same sequence.'
          : '';
      differenceNote.hidden = differences.length === 0;
    }

    function redraw() {
      syncSharedControls();
      for (const panel of panels) {
        syncPanelControls(panel);
        drawPanel(panel);
      }
    }

    function hover(panel, event) {
      const map = panel.map;
      const geometry = panel.geometry;
      if (!map || map.error || !geometry) return;
      const bounds = panel.elements.canvas.getBoundingClientRect();
      const canvas = panel.elements.canvas;
      const x = (event.clientX - bounds.left) * canvas.width / bounds.width;
      const y = (event.clientY - bounds.top) * canvas.height / bounds.height;
      const info = panel.elements.info;
      if (shared.view === 'heatmap') {
        const col = Math.floor((x - geometry.x) / geometry.cell);
        const row = Math.floor((y - geometry.y) / geometry.cell);
        info.textContent = row >= 0 && row < map.rows && col >= 0 && col < map.cols
            ? describeCell(map, row, col) : 'hover the map for a query, key and weight';
        return;
      }
      const span = geometry.span;
      const index = Math.floor((y - geometry.top) / geometry.queryRow);
      const row = x < (geometry.leftX + geometry.rightX) / 2 && index >= 0 && index < span.querySize
          ? span.queryStart + index : null;
      if (row === panel.hoverQuery) return;
      panel.hoverQuery = row;
      drawPanel(panel);
      if (row === null) {
        info.textContent = 'hover a query token (left) to see only its lines';
        return;
      }
      let strongest = 0;
      for (let col = 0; col < map.cols; col++) {
        if (map.bytes[map.offset + row * map.cols + col] >
            map.bytes[map.offset + row * map.cols + strongest]) strongest = col;
      }
      const q = map.bytes[map.offset + row * map.cols + strongest];
      info.textContent = describePositions(map, row, 'query') + '; strongest: ' +
                         describePositions(map, strongest, 'key') + ', weight ' +
                         formatNumber(q / 255 * map.scale, 4);
    }

    function makePanel(key, entry, head) {
      const elements = {
        run: element('select', {id: 'explorer-' + key + '-run'}),
        snapshot: element('select', {id: 'explorer-' + key + '-snapshot'}),
        layer: element('select', {id: 'explorer-' + key + '-layer'}),
        head: element('select', {id: 'explorer-' + key + '-head'}),
        canvas: element('canvas', {id: 'explorer-' + key}),
        windowSlider: element('input', {type: 'range', min: 0, max: 0, step: 1, value: 0,
                                        id: 'explorer-' + key + '-window'}),
        notes: element('div', {class: 'explorer-notes'}),
        info: element('p', {class: 'hover-info'}, 'hover the map for a query, key and weight'),
        save: element('a', {href: '#', class: 'save'}, 'save PNG'),
      };
      elements.windowControl = element('label', {class: 'control', hidden: ''},
                                       'window start ', elements.windowSlider);
      const panel = {key: key, entry: entry, snapshot: Infinity, layer: 0, head: head,
                     windowStart: 0, hoverQuery: null, map: null, geometry: null,
                     offscreen: document.createElement('canvas'), elements: elements};

      const choose = (name, field) => elements[name].addEventListener('change', () => {
        panel[field] = Number(elements[name].value);
        panel.hoverQuery = null;
        redraw();
      });
      choose('run', 'entry');
      choose('snapshot', 'snapshot');
      choose('layer', 'layer');
      choose('head', 'head');
      elements.windowSlider.addEventListener('input', () => {
        panel.windowStart = Number(elements.windowSlider.value);
        drawPanel(panel);
      });
      elements.canvas.addEventListener('mousemove', (event) => hover(panel, event));
      elements.canvas.addEventListener('mouseleave', () => {
        elements.info.textContent = 'hover the map for a query, key and weight';
        if (panel.hoverQuery !== null) {
          panel.hoverQuery = null;
          drawPanel(panel);
        }
      });
      elements.save.addEventListener('click', () => {
        const map = panel.map;
        elements.save.download = map && !map.error
            ? ['attention', AttnlabCharts.fileSafe(AttnlabCharts.runLabel(map.run)),
               'step' + map.step, 'L' + map.mapLayer.layer, 'H' + panel.head,
               'sample' + shared.sample, shared.view].join('-') + '.png'
            : 'attention.png';
        elements.save.href = elements.canvas.toDataURL('image/png');
      });

      panel.element = element('div', {class: 'explorer-panel'},
        element('h3', null, 'Panel ' + key.toUpperCase()),
        element('div', {class: 'controls'},
          element('label', {class: 'control run-control'}, 'run ', elements.run),
          element('label', {class: 'control'}, 'snapshot ', elements.snapshot),
          element('label', {class: 'control'}, 'layer ', elements.layer),
          element('label', {class: 'control'}, 'head ', elements.head),
          elements.save),
        elements.notes, elements.canvas, elements.windowControl, elements.info);
      return panel;
    }

    // With two runs (a sweep, or `--with`), B starts on the same head in the second run: the
    // first view compares two variants. With one run, B shows A's second head.
    const firstHeads = headCount(mapRuns[0].run.maps.layers[0]);
    const panels = mapRuns.length > 1
        ? [makePanel('a', 0, 0), makePanel('b', 1, 0)]
        : [makePanel('a', 0, 0), makePanel('b', 0, Math.min(1, Math.max(firstHeads - 1, 0)))];

    sampleSelect.addEventListener('change', () => {
      shared.sample = Number(sampleSelect.value);
      redraw();
    });
    viewSelect.addEventListener('change', () => {
      shared.view = viewSelect.value;
      for (const panel of panels) panel.hoverQuery = null;
      redraw();
    });

    const section = element('section', {id: 'explorer'},
      element('h2', null, 'Attention explorer'),
      element('p', {class: 'note'},
              'Two panels, each with its own run, snapshot, layer and head, on the same probe ' +
              'sample: compare two heads, or one head in two runs. Rows are queries, columns ' +
              'keys.'),
      element('div', {class: 'controls'},
        element('label', {class: 'control'}, 'probe sample ', sampleSelect),
        element('label', {class: 'control'}, 'view ', viewSelect)),
      differenceNote,
      element('div', {class: 'explorer-panels'}, panels.map((panel) => panel.element)));
    redraw();
    return section;
  }

  // ---- token in context (attnlab probe --token) --------------------------------------------------

  // One occurrence: its input's tokens as text, each shaded by the weight the occurrence puts on
  // it (relative to the row's largest), the occurrence itself outlined.
  function tokenPanel(panel) {
    const weights = panel.weights || [];
    const largest = Math.max(0, ...weights.filter(isNumber));
    const words = (panel.tokens || []).map((token, position) => {
      const weight = isNumber(weights[position]) ? weights[position] : 0;
      const share = largest > 0 ? weight / largest : 0;
      return element('span', {
        class: 'token' + (position === panel.position ? ' token-self' : ''),
        style: 'background: rgba(213, 94, 0, ' + share.toFixed(3) + ')',
        title: 'position ' + position + ': weight ' + formatNumber(weight, 3),
      }, String(token));
    });
    return element('div', {class: 'token-panel'},
      element('h3', null, 'input ' + panel.input + ', position ' + panel.position),
      element('p', {class: 'token-text'}, words),
      element('p', {class: 'note'}, 'largest weight ' + formatNumber(largest, 3)));
  }

  function tokenContextSection(doc) {
    const entries = doc.runs.filter((run) => run.token_context &&
                                             (run.token_context.heads || []).length > 0);
    const section = element('section', {id: 'token-context'},
                            element('h2', null, 'Token in context'));
    for (const run of entries) {
      const context = run.token_context;
      const select = element('select', null, context.heads.map((head, index) =>
        element('option', {value: index},
                '#' + head.rank + ' layer ' + head.layer + ' head ' + head.head + ': ' +
                formatNumber(head.js_by_token, 3) + ' by token, ' +
                formatNumber(head.js_by_position, 3) + ' by position')));
      const panels = element('div', {class: 'token-panels'});
      const show = () => {
        const head = context.heads[Number(select.value)];
        panels.replaceChildren(...head.panels.map(tokenPanel));
      };
      select.addEventListener('change', show);
      section.append(
        element('p', {class: 'note'},
                '\u2018' + context.token + '\u2019 in ' + context.occurrences + ' contexts (' +
                AttnlabCharts.runLabel(run) + ', step ' + context.step + '). Heads are ranked by ' +
                'the Jensen-Shannon distance between the occurrences\u2019 attention rows, aligned ' +
                'by attended token and by relative position (0: equal rows, 1: disjoint); the ' +
                'panels show the two occurrences furthest apart, each token shaded by the ' +
                'weight the outlined occurrence puts on it.'),
        element('div', {class: 'controls'}, element('label', {class: 'control'}, 'head ', select)),
        panels);
      show();
    }
    return section;
  }

  // ---- page -------------------------------------------------------------------------------------

  function main() {
    const root = document.getElementById('report');
    let doc;
    let charts;
    try {
      doc = JSON.parse(document.getElementById('report-data').textContent);
      charts = AttnlabCharts.buildCharts(doc);
    } catch (error) {
      reportError(root, 'The report data could not be read', error);
      return;
    }
    const runs = doc.runs || [];
    const hasMaps = runs.some((run) => run.maps && (run.maps.layers || []).length > 0 &&
                                       (run.maps.snapshots || []).length > 0);
    const benchCharts = charts.filter((chart) => chart.section === 'benchmark');
    const sections = [
      [doc.comparison, 'comparison', 'Comparison',
       () => comparisonSection(doc, charts.filter((chart) => chart.section === 'comparison'))],
      [benchCharts.length > 0, 'benchmark', 'Attention benchmark',
       () => benchmarkSection(doc, benchCharts)],
      [runs.length > 0, 'runs', 'Runs', () => runsSection(doc, charts)],
      [hasMaps, 'explorer', 'Attention explorer', () => explorerSection(doc)],
      [runs.some((run) => run.token_context && (run.token_context.heads || []).length > 0),
       'token-context', 'Token in context', () => tokenContextSection(doc)],
    ].filter((section) => section[0]);

    root.append(header(doc, sections.map((section) => [section[1], section[2]])));
    for (const [, id, title, build] of sections) {
      try {
        root.append(build());
      } catch (error) {
        reportError(root, 'The ' + title.toLowerCase() + ' section could not be built (' + id + ')',
                    error);
      }
    }
  }

  main();
})();
