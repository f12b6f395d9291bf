import assert from "node:assert/strict";
import {
  ConsoleClosedError,
  ConsoleTimeoutError,
  tinyGuest,
  vm,
  VmNotRunningError,
} from "../../mod.ts";

async function tinyVm(arch: "x86_64" | "aarch64" = "x86_64") {
  const guest = await tinyGuest(arch);
  return await vm({ arch }).memory("256M").kernel(guest.kernel, { initrd: guest.initrd })
    .launch({ timeout: 60_000 });
}

Deno.test("console.exec runs commands longer than a line of the guest's line editor", async () => {
  await using machine = await tinyVm();
  // 920 bytes passed the tty but not busybox's 1023-byte line editor.
  assert.deepEqual(await machine.console.exec(`echo ${"y".repeat(920)} | wc -c`), {
    output: "921",
    exitCode: 0,
  });
  // Quotes, newlines and multi-byte characters survive being typed in pieces.
  const text = `it's "quoted" — ü\n`.repeat(600);
  const result = await machine.console.exec(`cat <<'END' | md5sum\n${text}END`);
  const expected = await new Deno.Command("md5sum", { stdin: "piped", stdout: "piped" }).spawn();
  const writer = expected.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const sum = new TextDecoder().decode((await expected.output()).stdout).split(" ")[0];
  assert.equal(result.output.split(" ")[0], sum);
  // Variables and the directory still carry over, and the helper variable is gone.
  await machine.console.exec(`cd /tmp; x=${"z".repeat(1500)}`);
  assert.deepEqual(await machine.console.exec('echo ${#x} $PWD "${VMKIT_C-unset}"'), {
    output: "1500 /tmp unset",
    exitCode: 0,
  });
  await assert.rejects(
    () => machine.console.exec("x".repeat(70_000)),
    /70000 bytes once quoted: the console takes at most 65536/,
  );
});

Deno.test("console.exec on a paused VM fails at once, saying so", async () => {
  await using machine = await tinyVm();
  assert.equal((await machine.console.exec("echo up")).output, "up");
  await machine.pause();
  const started = performance.now();
  await assert.rejects(
    () => machine.console.exec("echo never"),
    (error: Error) =>
      error instanceof VmNotRunningError && error.status === "paused" &&
      error.message === 'Cannot exec "echo never": the VM is paused; resume it with vm.resume()',
  );
  assert.ok(performance.now() - started < 2000);
  await machine.resume();
  assert.equal((await machine.console.exec("echo again")).output, "again");
});

Deno.test("a command that ends the guest's shell says so, with QEMU's exit", async () => {
  await using machine = await tinyVm();
  await assert.rejects(
    () => machine.console.exec("exit 3"),
    (error: Error) =>
      error instanceof ConsoleClosedError && error.exit?.code === 0 &&
      error.message ===
        'Cannot exec "exit 3": the guest\'s shell ended before the command finished, and QEMU exited with code 0',
  );
  await assert.rejects(
    () => machine.console.exec("true"),
    /^ConsoleClosedError: Cannot exec "true": QEMU exited with code 0$/,
  );
});

Deno.test("a timed-out exec interrupts the command with Ctrl-C, and the guest and shell stay up", async () => {
  await using machine = await tinyVm();
  assert.equal((await machine.console.exec("echo up")).output, "up");
  for (const command of ["sleep 30", "read x"]) {
    await assert.rejects(
      () => machine.console.exec(command, { timeout: 500 }),
      ConsoleTimeoutError,
    );
    // The command was interrupted: the next one runs at once, not after it.
    const started = performance.now();
    assert.equal((await machine.console.exec("echo back", { timeout: 10_000 })).output, "back");
    assert.ok(performance.now() - started < 5000);
  }
  // Ctrl-C at the prompt cancels the line; the shell does not end.
  await machine.console.send("\x03");
  assert.equal((await machine.console.exec("echo still")).output, "still");
  assert.equal(machine.hasExited, false);
});

Deno.test("control characters in a command reach it as characters, never as keys", async () => {
  await using machine = await tinyVm();
  const text = "a\tb\rc\x1bd\x03e\x7ff\\n\\t'";
  const result = await machine.console.exec(
    `printf '%s' '${text.replaceAll("'", `'\\''`)}' | od -An -c`,
  );
  const dumped = result.output.replace(/\s+/g, " ").trim();
  assert.equal(dumped, "a \\t b \\r c 033 d 003 e 177 f \\ n \\ t '");
  assert.equal(machine.hasExited, false);
});

Deno.test("a command started while reset() is still running waits for the rebooted guest", async () => {
  await using machine = await tinyVm();
  assert.equal((await machine.console.exec("echo up")).output, "up");
  const reset = machine.reset();
  const uptime = machine.console.exec("cut -d. -f1 /proc/uptime", { timeout: 60_000 });
  await reset;
  assert.ok(Number((await uptime).output) < 30);
  assert.equal(machine.console.transcript.split("vmkit: guest ready").length, 3);
});
