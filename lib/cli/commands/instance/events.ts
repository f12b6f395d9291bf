/**
 * `vmkit events NAME`: prints an instance's QMP events as they come, until Ctrl-C.
 *
 * @module
 */

import type { Command } from "npm:commander@^14.0.3";
import { CliError } from "../../errors.ts";
import { EXIT } from "../../exit_codes.ts";
import { status } from "../../_output.ts";
import { cliErrorOf } from "../../_library_errors.ts";
import { open } from "./_instance.ts";
import { interrupted, interruptedError, interruptible } from "./_interrupts.ts";
import { socketTaken } from "./_socket_taken.ts";
import { encoder, writeAll } from "./_text.ts";
import { examples } from "./_examples.ts";

async function eventsCommand(name: string, flags: { json?: boolean }) {
  const instance = await open(name);
  const { lockInstance } = await import("../../../instance/_lock.ts");
  const { EVENTS_LOCK_FILE } = await import("../../../instance/_files.ts");
  const { InstanceBusyError } = await import("../../../instance/errors.ts");
  const monitor = "a QEMU monitor serves one client at a time, and a second would hear nothing";
  let lock: Disposable;
  try {
    lock = await lockInstance(instance.dir, name, "events", EVENTS_LOCK_FILE);
  } catch (error) {
    if (!(error instanceof InstanceBusyError)) throw cliErrorOf(error);
    throw new CliError(
      `Cannot listen to the events of instance "${name}": another vmkit events is attached to it${
        error.holderPid === undefined ? "" : ` (pid ${error.holderPid})`
      }; ${monitor}; end that one first`,
    );
  }
  using _lock = lock;
  if (
    (await instance.status()).status === "running" &&
    await socketTaken(instance, instance.files.eventsSocket)
  ) {
    throw new CliError(
      `Cannot listen to the events of instance "${name}": another client (a script) is attached to its events monitor ("${instance.files.eventsSocket}"); ${monitor}; end that one first`,
    );
  }
  await interruptible(async (signal) => {
    try {
      await using qmp = await instance.qmp({ monitor: "events", signal });
      status(`vmkit: events of instance "${name}" (Ctrl-C to stop)`);
      for await (const event of qmp.events({ signal })) {
        const { seconds, microseconds } = event.timestamp;
        const at = new Date(seconds * 1000 + microseconds / 1000).toISOString();
        const line = flags.json
          ? JSON.stringify({ event: event.event, data: event.data ?? {}, timestamp: at })
          : `${at} ${event.event}${
            event.data === undefined ? "" : ` ${JSON.stringify(event.data)}`
          }`;
        await writeAll(Deno.stdout, encoder.encode(line + "\n"));
      }
    } catch (error) {
      if (!interrupted(signal)) throw cliErrorOf(error, EXIT.failure);
    }
    if (interrupted(signal)) throw interruptedError(signal, "stopped listening");
    // The events end when QEMU does.
    status(`vmkit: instance "${name}" stopped: its QEMU exited`);
  });
}

/**
 * Adds `vmkit events`.
 *
 * @param program The `vmkit` program.
 */
export function registerEvents(program: Command): void {
  program.command("events")
    .summary("print an instance's QMP events as they come, until Ctrl-C")
    .description(
      "Print the QMP events of instance NAME as they come (STOP, RESUME, SHUTDOWN, DEVICE_DELETED...), one a line, until Ctrl-C (exit 130) or QEMU exits. They come from a second monitor, so vmkit qmp works meanwhile; one vmkit events at a time can listen to an instance.",
    )
    .argument("<name>", "the instance")
    .option("--json", "one JSON object per line")
    .addHelpText(
      "after",
      examples(["vmkit events web", "vmkit events web --json | jq -r .event"]),
    )
    .action((name: string, flags: { json?: boolean }) => eventsCommand(name, flags));
}
