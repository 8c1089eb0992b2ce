// Markdown tables: readable in a terminal and pasted as they are into the README.
import type { Measurement } from './load.ts';

export interface Row {
  label: string;
  measurement: Measurement;
  /** Ratios of this row to other rows of the table, by the other row's short name. */
  ratios?: Record<string, number>;
}

const number = (value: number, digits = 0): string => (Number.isFinite(value) ? value.toFixed(digits) : '–');

export function statusSummary(measurement: Measurement): string {
  const parts = Object.entries(measurement.statuses).map(([code, count]) => `${code}×${count}`);
  if (measurement.errors > 0) parts.push(`errors×${measurement.errors}`);
  return parts.join(' ');
}

export function table(title: string, subtitle: string, rows: Row[], unit = 'ops/s'): string {
  const lines = [
    `### ${title}`,
    subtitle,
    '',
    `| | ${unit} | p50 ms | p99 ms | ratio | CPU ms/op: server, Postgres, load | answers |`,
    '|---|---:|---:|---:|---|---|---|',
  ];
  for (const row of rows) {
    const ratios = Object.entries(row.ratios ?? {})
      .map(([name, value]) => `${value.toFixed(2)} of ${name}`)
      .join(', ');
    const cpu = row.measurement.cpuMsPerOp;
    const cpuText = cpu ? `${cpu.server.toFixed(2)}, ${cpu.postgres.toFixed(2)}, ${cpu.loadGenerator.toFixed(2)}` : '';
    lines.push(
      `| ${row.label} | ${number(row.measurement.throughput)} | ${number(row.measurement.p50Ms, 2)} | ${number(row.measurement.p99Ms, 2)} | ${ratios} | ${cpuText} | ${statusSummary(row.measurement)} |`,
    );
  }
  return lines.join('\n');
}
