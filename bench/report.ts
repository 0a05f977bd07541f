// The benchmark's results: one row a measure, printed as a Markdown table and kept as JSON
// so that the documentation can be regenerated from a run.
import { availableParallelism, cpus, totalmem } from 'node:os';

export interface MeasureRow {
  /** P1 to P6 (P5 has two rows, P5a and P5b). */
  id: string;
  measure: string;
  /** The figure compared with the target (a ratio, a count, milliseconds or a percentage). */
  value: number;
  /** How `value` reads in the table. */
  result: string;
  target: string;
  met: boolean;
  /** The absolute figures behind the result, for the table. */
  details: string;
  /** Every figure, per round where there are rounds, for the JSON output. */
  figures: Record<string, unknown>;
  /**
   * P1, P3 and P6: the same measure in the same run with the gateways' in-flight sharing on,
   * printed as a second line under the row, whose own figures are with it off.
   */
  withSharing?: Pick<MeasureRow, 'result' | 'met' | 'details' | 'figures'>;
}

export interface RunInfo {
  date: string;
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  command: string;
  /** Seconds the whole run took, start-up and tear-down included. */
  seconds?: number;
}

export function runInfo(command: string): RunInfo {
  return {
    date: new Date().toISOString(),
    cores: availableParallelism(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    command,
  };
}

const escapeCell = (text: string) => text.replaceAll('|', '\\|');

const tableLine = (cells: [string, string, string, string, boolean, string]) =>
  cells
    .map((cell) => (typeof cell === 'boolean' ? (cell ? 'yes' : 'no') : escapeCell(cell)))
    .join(' | ')
    .replace(/^/, '| ')
    .concat(' |');

/** The Markdown table of a run, with the machine it ran on. */
export function formatTable(rows: readonly MeasureRow[], info: RunInfo): string {
  const lines = [
    `${info.date.slice(0, 10)}, ${info.cores} cores (${info.cpu}), ${info.memoryGiB} GiB, Node ${info.node}` +
      (info.seconds === undefined ? '' : `, ${Math.round(info.seconds)} s in all`),
    `command: ${info.command}`,
    '',
    '| id | measure | result | target | met | absolute figures |',
    '|---|---|---|---|---|---|',
    ...rows.flatMap((row) => [
      tableLine([row.id, row.measure, row.result, row.target, row.met, row.details]),
      ...(row.withSharing
        ? [
            tableLine([
              `${row.id}, sharing on`,
              'the same, with the gateways sharing identical subgraph fetches in flight (the default)',
              row.withSharing.result,
              row.target,
              row.withSharing.met,
              row.withSharing.details,
            ]),
          ]
        : []),
    ]),
  ];
  return lines.join('\n');
}

/** Rounds for display: three significant figures, no exponent. */
export function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const decimals = Math.max(0, digits - 1 - magnitude);
  return value.toFixed(decimals);
}
