// Paths in ssh options, written so ssh reads them back unchanged.

/**
 * A path as the value of an ssh `-o` option: ssh expands `%` tokens in it (`%%` is a `%`) and
 * splits it at spaces unless quoted (double quotes, with `\\` and `\"` inside).
 */
export function optionValue(path: string): string {
  const value = path.replaceAll("%", "%%");
  return /[\s"'\\]/.test(value)
    ? `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`
    : value;
}
