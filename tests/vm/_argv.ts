// Reading the JSON options (`-device {...}`, `-netdev`, `-object`, `-blockdev`) out of an argv.

/** The parsed values of every `option` in `argv`, in order. */
export function jsonOptions(argv: readonly string[], option: string): Record<string, unknown>[] {
  const values: Record<string, unknown>[] = [];
  argv.forEach((arg, i) => {
    if (arg === option) values.push(JSON.parse(argv[i + 1]));
  });
  return values;
}

/** The drivers of every `-device`, in order. */
export function deviceDrivers(argv: readonly string[]): string[] {
  return jsonOptions(argv, "-device").map((device) => device.driver as string);
}
