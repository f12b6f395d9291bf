/**
 * `vmkit snapshot save|load|delete|list NAME [TAG]`: an instance's snapshots (qcow2 disks).
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { EXIT } from "../../exit_codes.ts";
import { printJson, printTable, status } from "../../_output.ts";
import { library, open } from "./_instance.ts";
import { seconds } from "./_options.ts";
import { memoryText, secondsText } from "./_text.ts";
import { examples } from "./_examples.ts";

async function snapshotCommand(
  action: "save" | "load" | "delete",
  name: string,
  tag: string,
  flags: { timeout?: number },
) {
  const instance = await open(name);
  // A missing or taken tag, a disk that cannot hold snapshots: the operation failed (1); the
  // command line was right.
  await library(async () => {
    const options = { timeout: flags.timeout };
    if (action === "save") await instance.saveSnapshot(tag, options);
    else if (action === "load") await instance.loadSnapshot(tag, options);
    else await instance.deleteSnapshot(tag, options);
  }, EXIT.failure);
  status(`vmkit: snapshot "${tag}" of "${name}": ${action === "save" ? "saved" : `${action}ed`}`);
}

async function snapshotListCommand(name: string, flags: { json?: boolean }) {
  const instance = await open(name);
  const snapshots = await library(() => instance.snapshots(), EXIT.failure);
  if (flags.json) return printJson(snapshots);
  printTable(
    ["tag", "vm state", "date", "vm clock"],
    snapshots.map((s) => [
      s.tag,
      memoryText(Math.round(s.vmStateSize / 2 ** 20)),
      s.date.toISOString(),
      secondsText(s.vmClockNs / 1e6),
    ]),
  );
}

/**
 * Adds `vmkit snapshot` and its actions.
 *
 * @param program The `vmkit` program.
 */
export function registerSnapshot(program: Command): void {
  const snapshot = program.command("snapshot")
    .summary("save, load, list and delete an instance's snapshots (qcow2 disks)")
    .description(
      "Snapshots of a running instance: its memory, devices and qcow2 disks, kept inside its first writable qcow2 disk. save and load need it running; list and delete work on a stopped one too (with qemu-img).",
    )
    .addHelpText(
      "after",
      examples([
        "vmkit snapshot save web clean",
        "vmkit snapshot list web",
        "vmkit snapshot load web clean",
        "vmkit snapshot delete web clean",
      ]),
    );
  const actions = {
    save: [
      "save the running instance as snapshot TAG (a new tag)",
      "Save instance NAME's memory, devices and disks as snapshot TAG; it runs on. Every writable disk must be qcow2. A tag that exists is refused (exit 1).",
      ["vmkit snapshot save web clean", "vmkit snapshot save --timeout 10m web big"],
    ],
    load: [
      "bring the running instance back to snapshot TAG",
      "Bring running instance NAME back to snapshot TAG: memory, devices and disks as they were; it runs on from there. A stopped instance is refused: start it first.",
      ["vmkit snapshot load web clean"],
    ],
    delete: [
      "delete snapshot TAG (through QEMU, or qemu-img when stopped)",
      "Delete snapshot TAG from every disk of instance NAME that has it: through QEMU while it runs, else with qemu-img.",
      ["vmkit snapshot delete web clean"],
    ],
  } as const;
  for (const [action, [summary, description, lines]] of Object.entries(actions)) {
    snapshot.command(action)
      .summary(summary)
      .description(description)
      .argument("<name>", "the instance")
      .argument("<tag>", "the snapshot's name")
      .option("--timeout <seconds>", "time for the job (default 120)", seconds)
      .addHelpText("after", examples([...lines]))
      .action((name: string, tag: string, flags: { timeout?: number }) =>
        snapshotCommand(action as keyof typeof actions, name, tag, flags)
      );
  }
  snapshot.command("list")
    .summary("list the snapshots of an instance (a stopped one's are read with qemu-img)")
    .description(
      "List the snapshots of instance NAME: tag, size of the saved memory and devices, date, and the guest's clock then. A stopped instance's disk is read with qemu-img.",
    )
    .argument("<name>", "the instance")
    .option("--json", "a JSON array on stdout")
    .addHelpText(
      "after",
      examples(["vmkit snapshot list web", "vmkit snapshot list web --json | jq -r '.[].tag'"]),
    )
    .action((name: string, flags: { json?: boolean }) => snapshotListCommand(name, flags));
}
