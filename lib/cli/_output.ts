// How commands print: JSON when asked (--json), else aligned columns; progress only on a
// terminal.

const encoder = new TextEncoder();

/** Prints a value as indented JSON on stdout. */
export function printJson(value: unknown): void {
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(value, null, 2) + "\n"));
}

/**
 * Prints rows as aligned columns under upper-case headers (like `docker ps`); an empty list
 * prints only the headers.
 */
export function printTable(
  columns: readonly string[],
  rows: readonly (readonly string[])[],
): void {
  const widths = columns.map((column, i) =>
    Math.max(column.length, ...rows.map((row) => (row[i] ?? "").length))
  );
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
      .trimEnd();
  const text = [line(columns.map((c) => c.toUpperCase())), ...rows.map(line)].join("\n");
  Deno.stdout.writeSync(encoder.encode(text + "\n"));
}

/** Writes a status line on stderr when it is a terminal (boot stages); nothing when piped. */
export function status(message: string): void {
  if (Deno.stderr.isTerminal()) Deno.stderr.writeSync(encoder.encode(message + "\n"));
}
