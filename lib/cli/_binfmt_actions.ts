// What `vmkit binfmt` does, loaded only when it runs: binfmt_misc's entries listed, registered
// (through `_binfmt_register.ts`), reset and checked.

import * as binfmt from "../binfmt/mod.ts";
import { EXIT } from "./exit_codes.ts";
import { printJson, printTable } from "./_output.ts";
import { libraryCall } from "./_library_errors.ts";
import { registerEmulators, type RegisterFlags, registerPlan } from "./_binfmt_register.ts";

function hex(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined
    ? undefined
    : Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The QEMU target whose binaries an entry matches, if it is one of vmkit's table. */
function targetOf(entry: binfmt.BinfmtStatus): string | undefined {
  if (entry.type !== "M" || entry.magic === undefined || entry.mask === undefined) return undefined;
  return binfmt.QEMU_TARGETS.find((t) =>
    t.offset === entry.offset && t.magic.length === entry.magic!.length &&
    binfmt.magicMatches(t.magic, entry.magic!, entry.mask!)
  )?.name;
}

/**
 * `vmkit binfmt status`: the entries as a table, or JSON.
 *
 * @param flags The name prefix to show, --json.
 * @throws {CliError} When binfmt_misc cannot be read.
 */
export async function binfmtStatus(flags: { namePrefix?: string; json?: boolean }): Promise<void> {
  const state = await libraryCall(() => binfmt.status());
  const entries = state.entries.filter((e) =>
    flags.namePrefix === undefined || e.name.startsWith(flags.namePrefix)
  );
  if (flags.json) {
    printJson({
      mountPoint: state.mountPoint,
      enabled: state.enabled,
      entries: entries.map((e) => ({
        name: e.name,
        enabled: e.enabled,
        target: targetOf(e) ?? null,
        type: e.type,
        interpreter: e.interpreter,
        flags: binfmt.flagLetters(e.flags),
        ...(e.type === "M"
          ? { offset: e.offset, magic: hex(e.magic), mask: hex(e.mask) }
          : { extension: e.extension }),
      })),
    });
    return;
  }
  if (!state.enabled) console.error("vmkit: binfmt_misc is disabled (echo 1 > status)");
  printTable(
    ["name", "enabled", "target", "interpreter", "flags"],
    entries.map((e) => [
      e.name,
      e.enabled ? "yes" : "no",
      targetOf(e) ?? (e.type === "E" ? `.${e.extension}` : "-"),
      e.interpreter,
      binfmt.flagLetters(e.flags) || "-",
    ]),
  );
}

/**
 * `vmkit binfmt register`: exits 1 when an entry failed or its check found it broken.
 *
 * @param flags qemu-binfmt-conf.sh's flags, --dry-run, --json.
 * @throws {CliError} For wrong flags (exit 2) or files that cannot be written.
 */
export async function binfmtRegister(flags: RegisterFlags & { json?: boolean }): Promise<void> {
  const plan = registerPlan(flags);
  const { removed, results } = await registerEmulators(plan);
  const failed = results.filter((r) => r.action === "failed" || r.check === "broken");
  if (flags.json) {
    printJson({ removed, results, ok: failed.length === 0 });
  } else {
    const lines: string[] = removed.map((name) => `removed ${name}`);
    for (const r of results) {
      if (plan.dryRun && r.text !== undefined) {
        lines.push(`# would write ${r.file}\n${r.text.replace(/\n$/, "")}`);
      } else if (plan.dryRun && r.line !== undefined) {
        lines.push(r.line);
      } else {
        const check = r.check === undefined ? "" : ` (${r.check})`;
        const detail = r.error === undefined ? "" : `: ${r.error}`;
        const where = r.interpreter === undefined ? "" : ` -> ${r.interpreter}`;
        lines.push(`${r.action.padEnd(10)} ${r.target}${where}${check}${detail}`);
      }
    }
    if (plan.exportTo && !plan.dryRun) {
      lines.push(
        `wrote ${
          results.filter((r) => r.action === "exported").length
        } ${plan.exportTo.format} files into ${plan.exportTo.dir}`,
      );
    }
    if (lines.length > 0) console.log(lines.join("\n"));
  }
  if (failed.length > 0) Deno.exitCode = EXIT.failure;
}

/**
 * `vmkit binfmt reset`: removes the entries with the prefix.
 *
 * @param flags The prefix (default `qemu-`), --json.
 * @throws {CliError} When not root, or for an empty prefix.
 */
export async function binfmtReset(flags: { namePrefix?: string; json?: boolean }): Promise<void> {
  const removed = await libraryCall(() => binfmt.reset({ prefix: flags.namePrefix ?? "qemu-" }));
  if (flags.json) printJson({ removed });
  else if (removed.length > 0) console.log(removed.map((name) => `removed ${name}`).join("\n"));
}

/**
 * `vmkit binfmt check`: exits 1 when a target is broken or unregistered.
 *
 * @param targets The targets (default: every foreign one vmkit has a probe for).
 * @param flags --json.
 * @throws {CliError} For an unknown target.
 */
export async function binfmtCheck(targets: string[], flags: { json?: boolean }): Promise<void> {
  const report = await libraryCall(() => binfmt.checkAll(targets.length === 0 ? {} : { targets }));
  if (flags.json) printJson(report);
  else {
    printTable(
      ["target", "state", "entry", "detail"],
      report.results.map((r) => [
        r.target,
        r.state,
        r.entry ?? "-",
        r.error ?? (r.exitCode === undefined ? "" : `exit ${r.exitCode}`),
      ]),
    );
  }
  if (report.results.some((r) => r.state === "broken" || r.state === "unregistered")) {
    Deno.exitCode = EXIT.failure;
  }
}
