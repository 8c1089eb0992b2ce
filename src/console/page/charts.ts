// The two charts, drawn by uPlot (served from node_modules, loaded as a global by the page):
// contexts by state over time (sampled each minute by a worker) and replays / 412s / 409s per
// minute (counted by the journal as requests are answered).
import type uPlotType from 'uplot';
import type { MinuteSeries } from './api.js';
import { h } from './dom.js';

const UPlot = (globalThis as unknown as { uPlot: typeof uPlotType }).uPlot;

const COLORS: Record<string, string> = {
  open: '#6b7280',
  expired: '#a3a3a3',
  processing: '#2563eb',
  parked: '#dc2626',
  succeeded: '#16a34a',
  failed: '#9333ea',
  cancelled: '#ca8a04',
  replayed: '#2563eb',
  'precondition-failed': '#dc2626',
  conflict: '#ea580c',
};

const LABELS: Record<string, string> = { replayed: 'replays', 'precondition-failed': '412 precondition failed', conflict: '409 conflict' };

/** A line chart of `names` (in this order; those missing are zeros) over the series' minutes. */
export function minuteChart(title: string, data: MinuteSeries, names: readonly string[], width: number): HTMLElement {
  const figure = h('figure', { class: 'chart', 'data-chart': title }, h('figcaption', {}, title));
  const xs = data.minutes.map((minute) => Date.parse(minute) / 1000);
  const columns = names.map((name) => data.series[name] ?? xs.map(() => 0));
  // Minutes no worker sampled are gaps, not zeros.
  const sampled = data.sampled;
  const ys = columns.map((column) => column.map((value, index) => (sampled && !sampled[index] ? null : value)));
  const options: uPlotType.Options = {
    width,
    height: 180,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    axes: [{}, { size: 56 }],
    // The legend names the lines; values under the cursor would make it jump as the mouse moves.
    legend: { live: false },
    series: [{}, ...names.map((name) => ({ label: LABELS[name] ?? name, stroke: COLORS[name] ?? '#111827', width: 2, spanGaps: false, points: { show: true, size: 4 } }))],
  };
  new UPlot(options, [xs, ...ys], figure);
  return figure;
}
