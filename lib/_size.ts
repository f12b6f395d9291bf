// Reading sizes with binary units ("1.5G", "512MiB", "2Gi" as Kubernetes writes it), shared by memory sizes (lib/vm/size.ts,
// where a bare number is MiB) and image sizes (lib/image/_size.ts, where it is bytes).

const UNITS: Readonly<Record<string, number>> = {
  B: 1,
  K: 2 ** 10,
  KB: 2 ** 10,
  KIB: 2 ** 10,
  KI: 2 ** 10,
  M: 2 ** 20,
  MB: 2 ** 20,
  MIB: 2 ** 20,
  MI: 2 ** 20,
  G: 2 ** 30,
  GB: 2 ** 30,
  GIB: 2 ** 30,
  GI: 2 ** 30,
  T: 2 ** 40,
  TB: 2 ** 40,
  TIB: 2 ** 40,
  TI: 2 ** 40,
  P: 2 ** 50,
  PB: 2 ** 50,
  PIB: 2 ** 50,
  PI: 2 ** 50,
};

/** What {@linkcode binarySize} read: the bytes, or why it could not. */
export type BinarySize =
  | { bytes: number }
  | { error: "syntax" }
  | { error: "unit"; unit: string };

/**
 * Reads a number with an optional binary unit (K, M, G, T, P, also `MiB`/`MB`/`Mi`, any case).
 *
 * @param text Such as `"1.5G"`.
 * @param bare What a number without a unit is worth: 1 for bytes, 2 ** 20 for MiB.
 * @param units The units allowed, default all.
 */
export function binarySize(
  text: string,
  bare: number,
  units: readonly string[] = Object.keys(UNITS),
): BinarySize {
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(text.trim());
  if (match === null) return { error: "syntax" };
  const name = match[2].toUpperCase();
  const unit = name === "" ? bare : units.includes(name) ? UNITS[name] : undefined;
  if (unit === undefined) return { error: "unit", unit: match[2] };
  return { bytes: Number(match[1]) * unit };
}
