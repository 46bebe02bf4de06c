// Vega-Lite specs for the attnlab report, built from its data document (schema "attnlab-report",
// version 1, described in analysis/report/report_data.h). One file serves two callers: the page
// (report_app.js embeds the specs with vega-embed) and Node (build_report.mjs renders them to the
// static SVG figures), so it is a plain script with no dependencies that also works as a
// CommonJS module.
//
// buildCharts(doc) returns [{id, section, title, spec, task, run}]: `id` is file-name safe (the
// figure is <id>.svg), `section` is "comparison" | "benchmark" | "run", `task` names the task of a
// comparison chart and `run` is the index into doc.runs of a per-run chart (both null otherwise).
// Every builder drops null numbers (NaN in the runs) before they reach a chart, and skips a chart
// with nothing left to draw.
//
// L = layers, H = heads, N = snapshots of a dump, K = heads compared in the similarity matrix.

const AttnlabCharts = (function () {
  'use strict';

  const SCHEMA_URL = 'https://vega.github.io/schema/vega-lite/v6.json';  // read, never fetched

  // The labels of `attnlab analyze` (analysis/heads/head_classes.h), in its classification order,
  // with one colour each so that every labels chart of every run agrees.
  const HEAD_LABEL_COLOURS = {
    induction: '#e45756',
    duplicate: '#f58518',
    previous: '#4c78a8',
    next: '#72b7b2',
    self: '#b279a2',
    broad: '#eeca3b',
    sink: '#9d755d',
    local: '#54a24b',
    mixed: '#d4d4d4',
  };

  // One line under each head-statistic heatmap (definitions: docs/recording.md).
  const STATISTIC_DESCRIPTIONS = {
    entropy: 'mean attention entropy of a query (nats)',
    entropy_normalised: 'entropy / ln(allowed keys): 1 = uniform',
    confidence: 'mean largest weight of a query',
    distance: 'mean weighted distance |query - key|',
    sink_mass: 'mean weight on the first key',
    self_mass: 'mean weight on the query\'s own position',
    previous_mass: 'mean weight on the previous position',
    next_mass: 'mean weight on the next position',
    k90: 'mean number of keys holding 0.9 of a row',
    output_norm: 'mean norm of the head\'s output',
    importance: 'mean |dLoss/d head gate| (Michel et al. 2019)',
    importance_normalised: 'importance / its l2 norm over the layer',
    row_mass: 'mean row sum of the map as stored (1 for a distribution)',
    row_abs_mass: 'mean row sum of |A| as stored (row_mass unless signed)',
  };
  // Statistics of the map as stored (or of no map) whatever its kind (dump_schema.h of_raw_map);
  // the others describe |A| row-normalised on layers whose maps are not distributions.
  const RAW_MAP_STATISTICS = new Set(['output_norm', 'importance', 'importance_normalised',
                                      'row_mass', 'row_abs_mass']);

  const BASE_CONFIG = {
    view: {stroke: null},
    font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    title: {fontSize: 14, anchor: 'start', subtitleColor: '#555', subtitleFontSize: 11},
    axis: {labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#eee'},
    legend: {labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal'},
  };

  function isNumber(value) {
    return typeof value === 'number' && Number.isFinite(value);
  }

  // The same rule as the C++ side's file names (letters, digits and '-' kept, anything else '_'),
  // so a figure's name can be matched to the run or task it shows.
  function fileSafe(text) {
    const safe = String(text).replace(/[^A-Za-z0-9-]/g, '_');
    return safe === '' ? 'all' : safe;
  }

  // How a run is named in titles: its path under the report's DIR, or for DIR itself ("."), the
  // run directory's own name.
  function runLabel(run) {
    if (run.name !== '.') return run.name;
    const parts = String(run.dir || '').split(/[\\/]/).filter(Boolean);
    return parts.length ? parts[parts.length - 1] : 'run';
  }

  function withDefaults(spec) {
    return Object.assign({$schema: SCHEMA_URL, config: BASE_CONFIG}, spec);
  }

  function unique(values) {
    return Array.from(new Set(values));
  }

  // "L1", or "L1 signed" for a layer whose maps are not distributions: its map statistics and
  // labels are on |A| row-normalised (docs/head-metrics.md), and every grid says so.
  function layerName(run, layerPosition) {
    const layer = (run.layers || [])[layerPosition];
    const name = 'L' + (layer && isNumber(layer.index) ? layer.index : layerPosition);
    return layer && layer.map_kind && layer.map_kind !== 'distribution'
        ? name + ' ' + layer.map_kind : name;
  }

  // A slider over the snapshots of a per-run chart, counting from 1 like the subtitle, and
  // starting at the last snapshot so that the static SVG figure shows the final state. `steps`
  // lets the subtitle name the training step of the chosen snapshot.
  function snapshotParams(name, steps) {
    return [
      {name: name, value: Math.max(steps.length, 1),
       bind: {input: 'range', min: 1, max: Math.max(steps.length, 1), step: 1,
              name: name === 'snapshot' ? 'snapshot ' : 'labelled snapshot '}},
      {name: name + '_steps', value: steps},
    ];
  }

  // The data rows of the snapshot the slider `name` points at (rows count snapshots from 0).
  function snapshotFilter(name, field) {
    return {filter: 'datum.' + field + ' == ' + name + ' - 1'};
  }

  // "<prefix>step 400 (snapshot 5 of 5)", following the slider `name`. The prefix is quoted with
  // JSON.stringify: Vega expressions take double-quoted literals and it may hold an apostrophe.
  function stepSubtitle(name, count, prefix) {
    return {expr: JSON.stringify(prefix + 'step ') + ' + ' + name + '_steps[' + name + ' - 1] + ' +
                  JSON.stringify(' (snapshot ') + ' + ' + name + ' + ' +
                  JSON.stringify(' of ' + count + ')')};
  }

  // ---- comparison (a sweep or a folder of runs) -------------------------------------------------

  function metricOf(group, name) {
    const metric = group.metrics && group.metrics[name];
    return metric && isNumber(metric.mean) ? metric : null;
  }

  // Mean with its 95% CI as explicit bounds; a group of one run has no CI (ci95 null), so its
  // bounds collapse onto the mean rather than disappearing with the point. Bounds are cut to what
  // the metric can take ([0, 1] for an accuracy): with two seeds Student's t is 12.7, and an
  // uncut interval would stretch the axis far beyond anything reachable.
  function withInterval(metric, lowest = -Infinity, highest = Infinity) {
    const half = isNumber(metric.ci95) ? metric.ci95 : 0;
    return {mean: metric.mean, ci95: isNumber(metric.ci95) ? metric.ci95 : null,
            lower: Math.max(lowest, metric.mean - half),
            upper: Math.min(highest, metric.mean + half), n: metric.n};
  }

  function accuracyBars(task, groups) {
    const rows = [];
    for (const group of groups) {
      const accuracy = metricOf(group, 'val_accuracy');
      if (!accuracy) continue;
      rows.push(Object.assign({group: group.label, rank: group.rank, runs: group.runs},
                              withInterval(accuracy, 0, 1)));
    }
    if (rows.length === 0) return null;
    const byRank = rows.slice().sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity));
    return withDefaults({
      title: {text: 'Final validation accuracy: ' + task,
              subtitle: 'mean over seeds; whiskers: 95% confidence interval (cut at 0 and 1)'},
      data: {values: rows},
      width: 400,
      height: {step: 24},
      encoding: {
        y: {field: 'group', type: 'nominal', sort: byRank.map((row) => row.group), title: null,
            axis: {labelLimit: 240}},
        tooltip: [
          {field: 'group', type: 'nominal'},
          {field: 'mean', type: 'quantitative', title: 'val_accuracy (mean)', format: '.4f'},
          {field: 'ci95', type: 'quantitative', title: '95% CI (±)', format: '.4f'},
          {field: 'n', type: 'quantitative', title: 'seeds'},
          {field: 'rank', type: 'quantitative'},
        ],
      },
      layer: [
        {mark: {type: 'bar', color: '#9ecae9', height: {band: 0.7}},
         encoding: {x: {field: 'mean', type: 'quantitative', title: 'final val_accuracy'}}},
        {mark: {type: 'rule', color: '#1f1f1f', strokeWidth: 1.5},
         encoding: {x: {field: 'lower', type: 'quantitative'}, x2: {field: 'upper'}}},
        {mark: {type: 'tick', color: '#1f1f1f', orient: 'vertical', thickness: 1.5, size: 10},
         encoding: {x: {field: 'lower', type: 'quantitative'}}},
        {mark: {type: 'tick', color: '#1f1f1f', orient: 'vertical', thickness: 1.5, size: 10},
         encoding: {x: {field: 'upper', type: 'quantitative'}}},
      ],
    });
  }

  // Validation accuracy per group and step, aggregated here rather than by a Vega-Lite errorband
  // so that a group with one seed still gets a line (its band is zero wide instead of undefined).
  function curveBands(points) {
    const byKey = new Map();
    for (const point of points) {
      const key = point.group + '\u0000' + point.step;
      if (!byKey.has(key)) byKey.set(key, {group: point.group, step: point.step, values: []});
      byKey.get(key).values.push(point.accuracy);
    }
    return Array.from(byKey.values(), (entry) => {
      const n = entry.values.length;
      const mean = entry.values.reduce((sum, value) => sum + value, 0) / n;
      const variance = n > 1
          ? entry.values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (n - 1) : 0;
      const std = Math.sqrt(variance);
      return {group: entry.group, step: entry.step, mean: mean, std: std, seeds: n,
              lower: mean - std, upper: mean + std};
    });
  }

  // One colour per group for lines over a band. The legend would take the band's faint fill;
  // full-strength strokes name the lines.
  function groupColour() {
    return {field: 'group', type: 'nominal', title: 'group',
            legend: {orient: 'bottom', columns: 2, labelLimit: 260, symbolType: 'stroke',
                     symbolOpacity: 1, symbolStrokeWidth: 2}};
  }

  // The ±1 std band under a group's line (rows with lower and upper).
  function bandLayer(x, colour) {
    return {mark: {type: 'area', opacity: 0.18},
            encoding: {x: x, y: {field: 'lower', type: 'quantitative'}, y2: {field: 'upper'},
                       color: colour}};
  }

  function accuracyCurves(task, curves) {
    const points = curves
        .filter((point) => point.task === task && isNumber(point.step) && isNumber(point.accuracy))
        .map((point) => ({group: point.group ?? point.run, step: point.step,
                          accuracy: point.accuracy}));
    if (points.length === 0) return null;
    const colour = groupColour();
    const step = {field: 'step', type: 'quantitative', title: 'training step',
                  axis: {tickCount: 6}};
    return withDefaults({
      title: {text: 'Validation accuracy during training: ' + task,
              subtitle: 'line: mean over seeds; band: ±1 standard deviation over seeds'},
      data: {values: curveBands(points)},
      width: 460,
      height: 280,
      layer: [
        bandLayer(step, colour),
        {mark: {type: 'line', strokeWidth: 2},
         encoding: {x: step, y: {field: 'mean', type: 'quantitative', title: 'val_accuracy'},
                    color: colour}},
        {mark: {type: 'point', filled: true, size: 18},
         encoding: {
           x: step, y: {field: 'mean', type: 'quantitative'}, color: colour,
           tooltip: [
             {field: 'group', type: 'nominal'}, {field: 'step', type: 'quantitative'},
             {field: 'mean', type: 'quantitative', title: 'accuracy (mean)', format: '.4f'},
             {field: 'std', type: 'quantitative', title: 'std over seeds', format: '.4f'},
             {field: 'seeds', type: 'quantitative'},
           ]}},
      ],
    });
  }

  // Test accuracy against evaluated length (attnlab eval's eval.lengths), one line per group;
  // lengths a group could not evaluate (learned positions) have no point.
  function lengthChart(task, lengths) {
    const rows = lengths
        .filter((row) => row.task === task && isNumber(row.mean))
        .map((row) => {
          const std = isNumber(row.std) ? row.std : 0;
          return {group: row.group, length: row.length, mean: row.mean, std: std, n: row.n,
                  ratio: row.length / row.trained_length, lower: row.mean - std,
                  upper: row.mean + std};
        });
    if (rows.length === 0) return null;
    const colour = groupColour();
    const length = {field: 'length', type: 'quantitative', title: 'task.length evaluated',
                    scale: {type: 'log', base: 2}, axis: {format: '~g'}};
    return withDefaults({
      title: {text: 'Length generalisation: ' + task,
              subtitle: 'test accuracy; line: mean over seeds; band: ±1 standard deviation'},
      data: {values: rows},
      width: 460,
      height: 280,
      layer: [
        bandLayer(length, colour),
        {mark: {type: 'line', strokeWidth: 2, point: {filled: true, size: 30}},
         encoding: {
           x: length, y: {field: 'mean', type: 'quantitative', title: 'test accuracy'},
           color: colour,
           tooltip: [
             {field: 'group', type: 'nominal'}, {field: 'length', type: 'quantitative'},
             {field: 'ratio', type: 'quantitative', title: 'x trained length', format: '.3~g'},
             {field: 'mean', type: 'quantitative', title: 'accuracy (mean)', format: '.4f'},
             {field: 'std', type: 'quantitative', title: 'std over seeds', format: '.4f'},
             {field: 'n', type: 'quantitative', title: 'seeds'},
           ]}},
      ],
    });
  }

  // Accuracy against a cost metric, one labelled point per group, with 95% CIs on both axes.
  function costChart(task, groups, costMetric, costTitle, title) {
    const rows = [];
    for (const group of groups) {
      const accuracy = metricOf(group, 'val_accuracy');
      const cost = metricOf(group, costMetric);
      if (!accuracy || !cost) continue;
      const x = withInterval(cost, 0);
      const y = withInterval(accuracy, 0, 1);
      rows.push({group: group.label, x: x.mean, xLower: x.lower, xUpper: x.upper, xCi: x.ci95,
                 y: y.mean, yLower: y.lower, yUpper: y.upper, yCi: y.ci95, n: y.n});
    }
    if (rows.length === 0) return null;
    const x = {field: 'x', type: 'quantitative', title: costTitle + ' (mean)', scale: {zero: false},
               axis: {format: ',~g'}};
    const y = {field: 'y', type: 'quantitative', title: 'final val_accuracy (mean)',
               scale: {zero: false}, axis: {format: ',~g'}};
    return withDefaults({
      title: {text: title + ': ' + task,
              subtitle: 'one point per group; whiskers: 95% CI (accuracy cut at 0 and 1)'},
      data: {values: rows},
      width: 420,
      height: 300,
      layer: [
        {mark: {type: 'rule', color: '#888'},
         encoding: {x: {field: 'xLower', type: 'quantitative'}, x2: {field: 'xUpper'}, y: y}},
        {mark: {type: 'rule', color: '#888'},
         encoding: {x: x, y: {field: 'yLower', type: 'quantitative'}, y2: {field: 'yUpper'}}},
        {mark: {type: 'point', filled: true, size: 70},
         encoding: {
           x: x, y: y, color: {field: 'group', type: 'nominal', legend: null},
           tooltip: [
             {field: 'group', type: 'nominal'},
             {field: 'x', type: 'quantitative', title: costTitle, format: ',.4~g'},
             {field: 'xCi', type: 'quantitative', title: costTitle + ' 95% CI (±)',
              format: ',.3~g'},
             {field: 'y', type: 'quantitative', title: 'val_accuracy', format: '.4f'},
             {field: 'yCi', type: 'quantitative', title: 'val_accuracy 95% CI (±)', format: '.4f'},
             {field: 'n', type: 'quantitative', title: 'seeds'},
           ]}},
        {mark: {type: 'text', align: 'left', dx: 7, dy: -7, fontSize: 10, limit: 160},
         encoding: {x: x, y: y, text: {field: 'group'}}},
      ],
    });
  }

  function comparisonCharts(doc, add) {
    const groups = doc.comparison.groups || [];
    const tasks = unique(groups.map((group) => group.task));
    for (const task of tasks) {
      const taskGroups = groups.filter((group) => group.task === task);
      const name = fileSafe(task);
      const addForTask = (id, title, spec) => add(id, 'comparison', title, spec, {task: task});
      addForTask('bars-' + name, 'Final accuracy: ' + task, accuracyBars(task, taskGroups));
      addForTask('curves-' + name, 'Accuracy curves: ' + task,
                 accuracyCurves(task, doc.curves || []));
      addForTask('lengths-' + name, 'Length generalisation: ' + task,
                 lengthChart(task, doc.lengths || []));
      addForTask('cost-speed-' + name, 'Accuracy against speed: ' + task,
                 costChart(task, taskGroups, 'tokens_per_s', 'tokens/s', 'Accuracy against speed'));
      addForTask('cost-memory-' + name, 'Accuracy against memory: ' + task,
                 costChart(task, taskGroups, 'peak_rss_mb', 'peak RSS (MB)',
                           'Accuracy against memory'));
    }
  }

  // ---- bench attention --------------------------------------------------------------------------

  function benchRows(bench) {
    const rows = [];
    for (const row of bench.rows || []) {
      const error = row.error === undefined || row.error === null ? '' : String(row.error).trim();
      if (error !== '') continue;
      rows.push({
        variant: String(row.variant), path: String(row.path ?? ''),
        // Options that may split one variant into several lines (kept apart, same colour).
        options: ['score', 'position', 'pattern']
            .map((key) => (row[key] === undefined || row[key] === '' ? '' : key + '=' + row[key]))
            .filter(Boolean).join(' '),
        T: Number(row.T), milliseconds: Number(row.forward_backward_ms),
        megabytes: Number(row.forward_backward_peak_mb),
      });
    }
    return rows;
  }

  function benchChart(rows, field, title, axisTitle) {
    // Log scales: a zero or missing measurement cannot be placed, so it is left out.
    const values = rows.filter((row) => row.T > 0 && isNumber(row[field]) && row[field] > 0);
    if (values.length === 0) return null;
    const x = {field: 'T', type: 'quantitative', title: 'sequence length T',
               scale: {type: 'log', base: 2}, axis: {values: unique(values.map((row) => row.T))}};
    const y = {field: field, type: 'quantitative', title: axisTitle, scale: {type: 'log'}};
    return withDefaults({
      title: {text: title, subtitle: 'forward + backward; failed rows are left out'},
      data: {values: values},
      width: 420,
      height: 300,
      mark: {type: 'line', point: true, strokeWidth: 2},
      encoding: {
        x: x, y: y,
        color: {field: 'variant', type: 'nominal'},
        strokeDash: {field: 'path', type: 'nominal'},
        detail: {field: 'options', type: 'nominal'},
        tooltip: [
          {field: 'variant', type: 'nominal'}, {field: 'path', type: 'nominal'},
          {field: 'options', type: 'nominal'}, {field: 'T', type: 'quantitative'},
          {field: field, type: 'quantitative', title: axisTitle, format: ',.4~g'},
        ],
      },
    });
  }

  function benchCharts(doc, add) {
    const rows = benchRows(doc.bench_attention);
    add('bench-time', 'benchmark', 'Attention time',
        benchChart(rows, 'milliseconds', 'Attention time against length', 'time (ms)'));
    add('bench-memory', 'benchmark', 'Attention memory',
        benchChart(rows, 'megabytes', 'Attention peak memory against length', 'peak memory (MB)'));
  }

  // ---- per run (attention dumps) ----------------------------------------------------------------

  // Shared layout of the layers x heads grids: every layer and head on the axes at every snapshot,
  // in numeric order (an ordinal scale would otherwise sort "L10" before "L2").
  function headGridEncoding(run, heads) {
    const layers = (run.layers || []).map((layer, position) => layerName(run, position));
    const headNames = Array.from({length: heads}, (unused, head) => 'H' + head);
    const cell = heads > 12 ? 30 : 44;
    return {
      width: {step: cell},
      height: {step: 30},
      x: {field: 'head', type: 'ordinal', title: 'head', scale: {domain: headNames},
          axis: {orient: 'top', labelAngle: 0}},
      y: {field: 'layer', type: 'ordinal', title: 'layer', scale: {domain: layers}},
      showValues: cell >= 44,
    };
  }

  function headStatisticChart(run, name, values) {
    const steps = run.steps || [];
    const rows = [];
    let low = Infinity;
    let high = -Infinity;
    values.forEach((layers, snapshot) => (layers || []).forEach((heads, layer) =>
      (heads || []).forEach((value, head) => {
        if (!isNumber(value)) return;
        low = Math.min(low, value);
        high = Math.max(high, value);
        rows.push({snapshot: snapshot, step: steps[snapshot], layer: layerName(run, layer),
                   kind: ((run.layers || [])[layer] || {}).kind, head: 'H' + head, value: value});
      })));
    if (rows.length === 0) return null;
    const grid = headGridEncoding(run, run.heads || 1);
    // One colour scale across snapshots, so that moving the slider shows change, not rescaling.
    const colour = {field: 'value', type: 'quantitative', title: name,
                    scale: {scheme: 'viridis', domain: [low, high === low ? low + 1 : high]}};
    const normalised = !RAW_MAP_STATISTICS.has(name) && (run.layers || []).some((layer) =>
      layer.map_kind && layer.map_kind !== 'distribution');
    const description = (STATISTIC_DESCRIPTIONS[name] ? STATISTIC_DESCRIPTIONS[name] + ' · ' : '')
        + (normalised ? 'layers named with a map kind: on |A| row-normalised · ' : '');
    const layer = [{mark: 'rect', encoding: {color: colour}}];
    if (grid.showValues) {
      layer.push({mark: {type: 'text', fontSize: 10},
                  encoding: {text: {field: 'value', type: 'quantitative', format: '.3~g'},
                             color: {condition: {test: 'datum.value < ' + (low + high) / 2,
                                                 value: 'white'},
                                     value: 'black'}}});
    }
    return withDefaults({
      title: {text: name + ': ' + runLabel(run),
              subtitle: stepSubtitle('snapshot', steps.length, description)},
      params: snapshotParams('snapshot', steps),
      data: {values: rows},
      transform: [snapshotFilter('snapshot', 'snapshot')],
      width: grid.width,
      height: grid.height,
      encoding: {
        x: grid.x, y: grid.y,
        tooltip: [
          {field: 'layer', type: 'ordinal'}, {field: 'kind', type: 'nominal'},
          {field: 'head', type: 'ordinal'}, {field: 'step', type: 'quantitative'},
          {field: 'value', type: 'quantitative', title: name, format: '.4~g'},
        ],
      },
      layer: layer,
    });
  }

  function headLabelsChart(run) {
    const labels = run.labels;
    const steps = labels.steps || [];
    const rows = [];
    (labels.label || []).forEach((layers, index) => (layers || []).forEach((heads, layer) =>
      (heads || []).forEach((label, head) => {
        if (label === null || label === undefined) return;
        const score = ((((labels.score || [])[index] || [])[layer]) || [])[head];
        rows.push({index: index, step: steps[index], layer: layerName(run, layer),
                   head: 'H' + head, label: String(label), score: isNumber(score) ? score : null});
      })));
    if (rows.length === 0) return null;
    const grid = headGridEncoding(run, run.heads || 1);
    const layer = [{mark: 'rect',
                    encoding: {color: {field: 'label', type: 'nominal', title: 'label',
                                       scale: {domain: Object.keys(HEAD_LABEL_COLOURS),
                                               range: Object.values(HEAD_LABEL_COLOURS)}}}}];
    if (grid.showValues) {
      layer.push({mark: {type: 'text', fontSize: 10},
                  transform: [{filter: 'isValid(datum.score)'}],
                  encoding: {text: {field: 'score', type: 'quantitative', format: '.2f'}}});
    }
    return withDefaults({
      title: {text: 'Head labels: ' + runLabel(run),
              subtitle: stepSubtitle('labelled', steps.length,
                                     'attnlab analyze classes; text: the label\'s score · ')},
      params: snapshotParams('labelled', steps),
      data: {values: rows},
      transform: [snapshotFilter('labelled', 'index')],
      width: grid.width,
      height: grid.height,
      encoding: {
        x: grid.x, y: grid.y,
        tooltip: [
          {field: 'layer', type: 'ordinal'}, {field: 'head', type: 'ordinal'},
          {field: 'label', type: 'nominal'},
          {field: 'score', type: 'quantitative', format: '.3f'},
          {field: 'step', type: 'quantitative'},
        ],
      },
      layer: layer,
    });
  }

  function similarityChart(run) {
    const similarity = run.similarity;
    const names = (similarity.heads || []).map((pair) => 'L' + pair[0] + 'H' + pair[1]);
    const count = names.length;  // K
    if (count === 0) return null;
    // group[k]: the redundant group of heads[k] (-1: in none).
    const groupOf = (k) => {
      const group = (similarity.group || [])[k];
      return isNumber(group) && group >= 0 ? group : 'none';
    };
    const rows = [];
    (similarity.distance || []).forEach((row, i) => (row || []).forEach((distance, j) => {
      if (!isNumber(distance) || i >= count || j >= count) return;
      rows.push({a: names[i], b: names[j], distance: distance,
                 groupA: groupOf(i), groupB: groupOf(j)});
    }));
    if (rows.length === 0) return null;
    const order = (similarity.order && similarity.order.length === count
        ? similarity.order : names.map((name, index) => index)).map((index) => names[index]);
    const cell = Math.max(6, Math.min(22, Math.floor(520 / count)));
    const axis = {labelFontSize: cell < 10 ? 7 : 10, labelAngle: 0};
    return withDefaults({
      title: {text: 'Head similarity: ' + runLabel(run),
              subtitle: 'Jensen-Shannon distance between heads\' maps' +
                        (isNumber(similarity.step) ? ' at step ' + similarity.step : '') +
                        '; heads in cluster order'},
      data: {values: rows},
      width: {step: cell},
      height: {step: cell},
      mark: 'rect',
      encoding: {
        x: {field: 'b', type: 'ordinal', sort: order, title: null,
            axis: Object.assign({}, axis, {labelAngle: -90})},
        y: {field: 'a', type: 'ordinal', sort: order, title: null, axis: axis},
        color: {field: 'distance', type: 'quantitative', title: 'JS distance',
                scale: {scheme: 'blues', reverse: true, zero: true}},
        tooltip: [
          {field: 'a', type: 'nominal', title: 'head'},
          {field: 'groupA', type: 'nominal', title: 'redundant group'},
          {field: 'b', type: 'nominal', title: 'other head'},
          {field: 'groupB', type: 'nominal', title: 'its redundant group'},
          {field: 'distance', type: 'quantitative', format: '.4f'},
        ],
      },
    });
  }

  function pruningChart(run) {
    const orders = [
      ['increasing', 'least important first'],
      ['decreasing', 'most important first'],
    ];
    const rows = [];
    for (const [key, description] of orders) {
      for (const point of run.pruning[key] || []) {
        if (!isNumber(point.fraction) || !isNumber(point.accuracy)) continue;
        rows.push({order: description, fraction: point.fraction, accuracy: point.accuracy,
                   heads_masked: point.heads_masked,
                   loss: isNumber(point.loss) ? point.loss : null});
      }
    }
    if (rows.length === 0) return null;
    return withDefaults({
      title: {text: 'Head pruning: ' + runLabel(run),
              subtitle: 'probe accuracy with a growing fraction of heads masked, by importance'},
      data: {values: rows},
      width: 420,
      height: 260,
      mark: {type: 'line', point: true, strokeWidth: 2},
      encoding: {
        x: {field: 'fraction', type: 'quantitative', title: 'fraction of heads masked',
            axis: {format: '.0%'}},
        y: {field: 'accuracy', type: 'quantitative', title: 'accuracy'},
        color: {field: 'order', type: 'nominal', title: 'heads masked',
                scale: {range: ['#4c78a8', '#e45756']},
                legend: {orient: 'bottom-left', direction: 'vertical', fillColor: '#ffffffcc'}},
        tooltip: [
          {field: 'order', type: 'nominal'},
          {field: 'fraction', type: 'quantitative', format: '.0%'},
          {field: 'heads_masked', type: 'quantitative', title: 'heads masked'},
          {field: 'accuracy', type: 'quantitative', format: '.4f'},
          {field: 'loss', type: 'quantitative', format: '.4f'},
        ],
      },
    });
  }

  function probeLossChart(run) {
    const steps = run.steps || [];
    const rows = (run.probe_loss || [])
        .map((loss, snapshot) => ({step: steps[snapshot], loss: loss}))
        .filter((row) => isNumber(row.step) && isNumber(row.loss));
    if (rows.length === 0) return null;
    return withDefaults({
      title: {text: 'Probe loss: ' + runLabel(run),
              subtitle: 'loss of the fixed probe batch at each snapshot'},
      data: {values: rows},
      width: 420,
      height: 240,
      mark: {type: 'line', point: true, strokeWidth: 2},
      encoding: {
        x: {field: 'step', type: 'quantitative', title: 'training step',
            axis: {tickCount: 6, format: ',d'}},
        y: {field: 'loss', type: 'quantitative', title: 'probe loss', scale: {zero: false},
            axis: {format: ',~g'}},
        tooltip: [{field: 'step', type: 'quantitative'},
                  {field: 'loss', type: 'quantitative', format: '.4f'}],
      },
    });
  }

  function runCharts(run, runIndex, add) {
    const name = fileSafe(runLabel(run));
    const addForRun = (id, title, spec) => add(id, 'run', title, spec, {run: runIndex});
    for (const [statistic, values] of Object.entries(run.statistics || {})) {
      addForRun('heads-' + fileSafe(statistic) + '-' + name, statistic + ': ' + runLabel(run),
                headStatisticChart(run, statistic, values || []));
    }
    if (run.labels) {
      addForRun('labels-' + name, 'Head labels: ' + runLabel(run), headLabelsChart(run));
    }
    if (run.similarity) {
      addForRun('similarity-' + name, 'Head similarity: ' + runLabel(run), similarityChart(run));
    }
    if (run.pruning) {
      addForRun('pruning-' + name, 'Head pruning: ' + runLabel(run), pruningChart(run));
    }
    addForRun('probe-loss-' + name, 'Probe loss: ' + runLabel(run), probeLossChart(run));
  }

  function buildCharts(doc) {
    const charts = [];
    const usedIds = new Set();
    function add(id, section, title, spec, owner) {
      if (!spec) return;
      // Two run names can sanitise to the same text ("a/b" and "a_b"): number the later ones.
      let uniqueId = id;
      for (let copy = 2; usedIds.has(uniqueId); copy++) uniqueId = id + '-' + copy;
      usedIds.add(uniqueId);
      charts.push({id: uniqueId, section: section, title: title, spec: spec,
                   task: owner && owner.task !== undefined ? owner.task : null,
                   run: owner && owner.run !== undefined ? owner.run : null});
    }
    if (doc.comparison) comparisonCharts(doc, add);
    if (doc.bench_attention) benchCharts(doc, add);
    (doc.runs || []).forEach((run, runIndex) => runCharts(run, runIndex, add));
    return charts;
  }

  return {buildCharts: buildCharts, fileSafe: fileSafe, runLabel: runLabel,
          HEAD_LABEL_COLOURS: HEAD_LABEL_COLOURS};
})();

globalThis.AttnlabCharts = AttnlabCharts;
if (typeof module === 'object' && module.exports) module.exports = AttnlabCharts;
