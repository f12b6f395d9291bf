import assert from "node:assert/strict";
import { scratchState, spawnWithState, tinyDefinition, vmkit } from "../instance/_instances.ts";
import { MAIN } from "./_vmkit.ts";
import { tinyGuest } from "../../lib/guest/tiny_guest.ts";

const decoder = new TextDecoder();

/**
 * Drives `vmkit console NAME` on a real pty (python's pty module): waits for the escape line,
 * presses Enter, waits for the prompt, runs a command, waits for its output, types Ctrl-], and
 * prints what the terminal showed and how vmkit exited, as JSON.
 */
const PTY_DRIVER = String.raw`
import json, os, pty, select, sys, time
argv = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
seen = b""
def wait_for(needle, seconds):
    global seen
    end = time.time() + seconds
    while needle not in seen and time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return False
            if not data:
                return False
            seen += data
    return needle in seen
steps = []
steps.append(wait_for(b"Escape character is '^]'.", 20))
os.write(fd, b"\r")
steps.append(wait_for(b"vmkit# ", 10))
os.write(fd, b"echo out-$((6*7))\r")
steps.append(wait_for(b"out-42", 10))
os.write(fd, b"\x1d")
end = time.time() + 10
status = None
while time.time() < end:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    wait_for(b"\x00never", 0.1)
else:
    os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
print(json.dumps({"steps": steps, "seen": seen.decode(errors="replace"),
                  "exit": os.waitstatus_to_exitcode(status)}))
`;

async function pidAlive(pid: number): Promise<boolean> {
  // A zombie (killed, not yet reaped by init) has an empty command line.
  return (await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "")) !== "";
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A TCP port nothing listens on now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("vmkit start runs an instance that outlives it; list, info, qmp, exec, console, events, snapshots drive it; a killed QEMU reads as stopped and starts again", async () => {
  await using state = await scratchState();
  const run = (...args: string[]) => vmkit(args, { xdg: state.xdg });
  const file = `${state.xdg}/web.yaml`;
  const port = freePort();
  const forward = ["network:", "  forwards:", `    - "${port}:8080"`];
  await Deno.writeTextFile(file, tinyDefinition("disks:", "  - size: 64M", ...forward));

  const started = performance.now();
  const start = await run("start", "web", "web.yaml");
  const startMs = performance.now() - started;
  assert.equal(start.code, 0, start.stderr);
  assert.equal(start.stdout, "", "start prints nothing on stdout");
  // Piped stderr: no boot stages.
  assert.equal(start.stderr, "");

  // The CLI has exited; its QEMU runs on.
  const info = JSON.parse((await run("info", "web", "--json")).stdout);
  assert.equal(info.status, "running");
  assert.equal(info.vmStatus, "running");
  assert.ok(await pidAlive(info.pid), `QEMU ${info.pid} is alive after vmkit start exited`);
  const cmdline = (await Deno.readTextFile(`/proc/${info.pid}/cmdline`)).split("\0");
  assert.ok(cmdline.includes("-daemonize"), cmdline.join(" "));
  assert.equal(info.dir, `${state.stateBase}/web`);
  assert.equal((await Deno.stat(info.dir)).mode! & 0o777, 0o700);
  assert.deepEqual([info.arch, info.cpus, info.memoryMiB, info.agent], ["x86_64", 1, 256, true]);
  assert.equal(info.lastStart.command[0], "qemu-system-x86_64");
  assert.deepEqual(info.disks, [
    {
      file: `${info.dir}/disk0.qcow2`,
      format: "qcow2",
      readOnly: false,
      virtualSize: 64 * 2 ** 20,
    },
  ]);
  console.log(`vmkit start web (tiny guest, waiting for its agent): ${Math.round(startMs)} ms`);
  // The text: the status once, the disks, the last command line as a shell would take it.
  const shown = (await run("info", "web")).stdout;
  assert.match(shown, /^status: +running\n/m);
  assert.match(shown, new RegExp(`^disk: +${info.dir}/disk0\\.qcow2 \\(qcow2, 64 MiB\\)$`, "m"));
  assert.match(
    shown,
    /^command: +qemu-system-x86_64 .* -append 'console=ttyS0 [^']*' .* -daemonize$/m,
  );

  // A restart with a bad --set is refused before the instance is stopped.
  const badRestart = await run("restart", "web", "--set", "cpus=two");
  assert.equal(badRestart.code, 2, badRestart.stderr);
  assert.match(badRestart.stderr, /cpus: "two"/);
  assert.equal(JSON.parse((await run("info", "web", "--json")).stdout).pid, info.pid);

  // Another instance forwarding the same host port: QEMU's refusal names the instance holding it.
  await Deno.writeTextFile(`${state.xdg}/other.yaml`, tinyDefinition(...forward));
  const clash = await run("start", "other", "other.yaml", "--no-wait");
  assert.equal(clash.code, 1);
  assert.match(
    clash.stderr,
    new RegExp(
      `^vmkit: Cannot start instance "other": host port ${port} \\(tcp, forwarded to guest port 8080\\) is taken by instance "web" \\(running, QEMU pid ${info.pid}\\); stop it \\(vmkit stop web\\)`,
    ),
  );
  // The command line in the error pastes into a shell.
  assert.match(clash.stderr, /\nargv: qemu-system-x86_64 .* -append 'console=ttyS0 [^']*' /);

  const table = await run("list");
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^NAME +STATUS +ARCH +CPUS +MEMORY +SSH +DIR\n/);
  assert.match(table.stdout, new RegExp(`\\nweb +running +x86_64 +1 +256MiB +- +${info.dir}\\n$`));
  assert.equal((await run("list", "--quiet")).stdout, "web\n");
  const listed = JSON.parse((await run("list", "--json")).stdout);
  assert.deepEqual(listed.map((i: { name: string; status: string }) => [i.name, i.status]), [
    ["web", "running"],
  ]);

  const qmp = await run("qmp", "web", "query-status");
  assert.equal(qmp.code, 0, qmp.stderr);
  assert.deepEqual(JSON.parse(qmp.stdout), { status: "running", singlestep: false, running: true });
  // The human monitor's text as it prints it.
  const hmp = await run("qmp", "web", "human-monitor-command", "command-line=info status");
  assert.deepEqual([hmp.code, hmp.stdout], [0, "VM status: running\n"]);
  const bad = await run("qmp", "web", "no-such-command");
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^vmkit: Cannot run QMP command "no-such-command": CommandNotFound: /);

  const exec = await run("exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 7");
  assert.deepEqual([exec.code, exec.stdout, exec.stderr], [7, "out\n", "err\n"]);
  const piped = await vmkit(["exec", "-i", "web", "--", "tr", "a-z", "A-Z"], {
    xdg: state.xdg,
    stdin: "shout\n",
  });
  assert.deepEqual([piped.code, piped.stdout], [0, "SHOUT\n"]);
  const killed = await run("exec", "web", "--", "sh", "-c", "kill -9 $$");
  assert.equal(killed.code, 128 + 9);
  // One word is a shell line, several an argv; the -- is optional; an unknown option says where
  // the command goes.
  const line = await run("exec", "web", "--", "echo $((6*7)); echo two");
  assert.deepEqual([line.code, line.stdout], [0, "42\ntwo\n"], line.stderr);
  const bare = await run("exec", "web", "uname", "-s");
  assert.deepEqual([bare.code, bare.stdout], [0, "Linux\n"], bare.stderr);
  const unknown = await run("exec", "web", "-x", "true");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /put the guest command after --: vmkit exec web -- -x true\n$/);

  // A QEMU stopped by SIGSTOP is named at once, with how to continue it.
  Deno.kill(info.pid, "SIGSTOP");
  try {
    const hung = await run("exec", "web", "--", "true");
    assert.equal(hung.code, 125);
    const stopped =
      `its QEMU \\(pid ${info.pid}\\) is stopped \\(SIGSTOP[^)]*\\) and answers nothing; continue it with: kill -CONT ${info.pid}`;
    assert.match(hung.stderr, new RegExp(stopped));
    const hungQmp = await run("qmp", "web", "query-status");
    assert.equal(hungQmp.code, 1);
    assert.match(hungQmp.stderr, new RegExp(`QMP monitor of instance "web": ${stopped}`));
  } finally {
    Deno.kill(info.pid, "SIGCONT");
  }

  // The console on a real terminal: a prompt, a command's output, then Ctrl-] detaches.
  const pty = await new Deno.Command("python3", {
    args: [
      "-c",
      PTY_DRIVER,
      JSON.stringify([Deno.execPath(), "run", "-A", MAIN, "console", "web"]),
    ],
    env: { XDG_STATE_HOME: state.xdg },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const session = JSON.parse(decoder.decode(pty.stdout));
  assert.deepEqual(session.steps, [true, true, true], session.seen);
  assert.equal(session.exit, 0, session.seen);
  assert.match(session.seen, /out-42/);
  assert.equal(JSON.parse((await run("info", "web", "--json")).stdout).status, "running");
  // The console log kept what the guest printed while nobody was attached, and since.
  const consoleLog = await Deno.readTextFile(`${info.dir}/console.log`);
  assert.match(consoleLog, /vmkit: guest ready/);
  assert.match(consoleLog, /out-42/);

  // Events, on their own monitor: a listener does not hold up commands.
  const events = spawnWithState(["events", "web", "--json"], { xdg: state.xdg });
  const lines = events.stdout.pipeThrough(new TextDecoderStream()).getReader();
  await until("the events listener", async () => {
    const chardevs = JSON.parse((await run("qmp", "web", "query-chardev")).stdout);
    return chardevs.some((c: { label: string; filename: string }) =>
      c.label === "vmkit-qmp1" && !c.filename.startsWith("disconnected:")
    );
  });
  // A second listener would hear nothing (one client per monitor): it is refused at once.
  const second = await run("events", "web");
  assert.equal(second.code, 1);
  assert.match(
    second.stderr,
    new RegExp(
      `^vmkit: Cannot listen to the events of instance "web": another vmkit events is attached to it \\(pid ${events.pid}\\)`,
    ),
  );
  assert.equal((await run("qmp", "web", "stop")).code, 0);
  assert.equal((await run("qmp", "web", "cont")).code, 0);
  let text = "";
  while (!/"RESUME"/.test(text)) {
    const { value, done } = await lines.read();
    if (done) break;
    text += value;
  }
  events.kill("SIGINT");
  const eventsEnd = await events.status;
  await lines.cancel();
  await events.stderr.cancel();
  const names = text.trim().split("\n").map((line) => JSON.parse(line).event);
  assert.deepEqual(names.filter((n) => n === "STOP" || n === "RESUME"), ["STOP", "RESUME"]);
  assert.equal(eventsEnd.code, 130);

  // Snapshots of the qcow2 disk the definition made in the state directory.
  for (const tag of ["s1", "s2"]) {
    const saved = await run("snapshot", "save", "web", tag);
    assert.equal(saved.code, 0, saved.stderr);
  }
  const tags = async () =>
    JSON.parse((await run("snapshot", "list", "web", "--json")).stdout).map((s: { tag: string }) =>
      s.tag
    );
  assert.deepEqual(await tags(), ["s1", "s2"]);
  assert.equal((await run("snapshot", "load", "web", "s1")).code, 0);
  assert.equal((await run("snapshot", "delete", "web", "s2")).code, 0);
  assert.deepEqual(await tags(), ["s1"]);
  const missingTag = await run("snapshot", "load", "web", "s2");
  assert.equal(missingTag.code, 1);
  assert.match(missingTag.stderr, /Cannot load snapshot "s2": there is no snapshot of that name/);

  // kill -9 of QEMU: its sockets and pid file stay behind, list reads it as stopped and
  // clears them, and a start (without the file: the saved definition) boots it again.
  Deno.kill(info.pid, "SIGKILL");
  await until("QEMU to die", async () => !(await pidAlive(info.pid)));
  assert.ok((await Deno.lstat(`${info.dir}/qmp.sock`)).isSocket);
  const afterKill = JSON.parse((await run("list", "--json")).stdout);
  assert.equal(afterKill[0].status, "stopped");
  await assert.rejects(Deno.lstat(`${info.dir}/qmp.sock`), Deno.errors.NotFound);
  await assert.rejects(Deno.lstat(`${info.dir}/qemu.pid`), Deno.errors.NotFound);
  const stopped = await run("exec", "web", "--", "true");
  assert.equal(stopped.code, 125);
  assert.match(stopped.stderr, /instance "web": it is stopped; start it first \(vmkit start web\)/);
  // A record that cannot be read: list shows it broken, info says what to do, and a start from
  // the saved definition writes it anew.
  const record = await Deno.readTextFile(`${info.dir}/instance.json`);
  await Deno.writeTextFile(`${info.dir}/instance.json`, record.slice(0, 40));
  assert.match((await run("list")).stdout, /\nweb +broken +- /);
  const broken = JSON.parse((await run("list", "--json")).stdout)[0];
  assert.deepEqual([broken.name, broken.status], ["web", "broken"]);
  assert.match(broken.problem, /instance\.json"\): it is not JSON/);
  const brokenInfo = await run("info", "web");
  assert.equal(brokenInfo.code, 0, brokenInfo.stderr);
  assert.match(brokenInfo.stdout, /^status: +broken \(QEMU stopped\)$/m);
  assert.match(
    brokenInfo.stdout,
    /^fix: +vmkit start web writes the record anew from the definition/m,
  );
  const again = await run("start", "web");
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await run("exec", "web", "--", "true")).code, 0);
  const twice = await run("start", "web");
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /Cannot start instance "web": it is running already \(QEMU pid \d+\)/);

  const refused = await run("delete", "web");
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /Cannot delete instance "web": it is running \(QEMU pid \d+\); stop it first, or delete it with --force\n/,
  );
  // Every name is handled: one that is not there is reported, the others are stopped.
  const stop = await run("stop", "nosuch", "web");
  assert.equal(stop.code, 1);
  assert.match(stop.stderr, /^vmkit: Cannot open instance "nosuch": there is no such instance in /);
  assert.doesNotMatch(stop.stderr, /vmkit start/);
  assert.equal(JSON.parse((await run("list", "--json")).stdout)[0].status, "stopped");

  // A start QEMU refuses keeps the last good definition and record, and says why every time.
  const definition = await Deno.readTextFile(`${info.dir}/definition.json`);
  const goodRecord = await Deno.readTextFile(`${info.dir}/instance.json`);
  for (let i = 0; i < 2; i++) {
    const refused = await run("start", "web", "--set", 'args=["-device","no-such-device"]');
    assert.equal(refused.code, 1, refused.stderr);
    const said = "-device no-such-device: 'no-such-device' is not a valid device model name";
    assert.ok(
      refused.stderr.startsWith(`vmkit: Cannot start instance "web": ${said}`),
      refused.stderr,
    );
    assert.ok(
      refused.stderr.includes(`\nqemu.log:\nqemu-system-x86_64: ${said}\n`),
      refused.stderr,
    );
  }
  assert.equal(await Deno.readTextFile(`${info.dir}/definition.json`), definition);
  assert.equal(await Deno.readTextFile(`${info.dir}/instance.json`), goodRecord);
  await assert.rejects(Deno.lstat(`${info.dir}/qmp.sock`), Deno.errors.NotFound);
  // A new size for the disk its first start made is refused, saying how to grow it.
  await Deno.writeTextFile(
    `${state.xdg}/bigger.yaml`,
    tinyDefinition("disks:", "  - size: 1G", ...forward),
  );
  const bigger = await run("start", "web", "bigger.yaml");
  assert.equal(bigger.code, 1);
  assert.match(
    bigger.stderr,
    /disks\[0\]\.size 1G: its disks\[0\] "[^"]*\/disk0\.qcow2", made by its first start and kept since, is 64 MiB, and vmkit does not resize a kept disk; grow it \(vmkit img resize \S+ 1G;/,
  );

  // A stopped instance's snapshots are read from its disk, and deleted with qemu-img; loading
  // one needs it running.
  assert.deepEqual(await tags(), ["s1"]);
  const load = await run("snapshot", "load", "web", "s1");
  assert.equal(load.code, 1);
  assert.match(load.stderr, /it is stopped, and a snapshot is loaded into a running VM/);
  const deleted = await run("snapshot", "delete", "web", "s1");
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.deepEqual(await tags(), []);
  assert.equal((await run("delete", "web")).code, 0);
  await assert.rejects(Deno.stat(info.dir), Deno.errors.NotFound);
  assert.equal((await run("list", "--json")).stdout, "[]\n");
});

/** A definition whose QEMU waits, before it is set up, for a connection to `hold`. */
function heldDefinition(hold: string): string {
  return tinyDefinition(
    "args:",
    "  - -chardev",
    `  - socket,id=hold,path=${hold},server=on,wait=on`,
  );
}

Deno.test("two starts of one instance: one wins, the other names the lock's holder; a lock left by a killed vmkit is taken over", async () => {
  await using state = await scratchState();
  const run = (...args: string[]) => vmkit(args, { xdg: state.xdg });
  const hold = `${state.xdg}/hold.sock`;
  await Deno.writeTextFile(`${state.xdg}/held.yaml`, heldDefinition(hold));

  // The first start holds the lock while its QEMU waits on the hold socket.
  const first = spawnWithState(["start", "db", "held.yaml", "--no-wait"], { xdg: state.xdg });
  const lock = `${state.stateBase}/db/lock`;
  await until(
    "the first start to hold the lock",
    async () =>
      (await Deno.readTextFile(lock).catch(() => "")).startsWith(`${first.pid} start`) &&
      (await Deno.lstat(hold).catch(() => undefined))?.isSocket === true,
    20_000,
  );
  const second = await run("start", "db", "held.yaml");
  assert.equal(second.code, 1);
  assert.match(
    second.stderr,
    new RegExp(
      `^vmkit: Cannot start instance "db": another process \\(pid ${first.pid}, running "start"\\) holds its lock; wait for it to finish`,
    ),
  );
  (await Deno.connect({ transport: "unix", path: hold })).close();
  const firstEnd = await first.output();
  assert.equal(firstEnd.code, 0, decoder.decode(firstEnd.stderr));
  assert.equal(JSON.parse((await run("info", "db", "--json")).stdout).status, "running");
  assert.equal((await run("stop", "--force", "db")).code, 0);

  // A start killed while it holds the lock (kill -9: no clean-up of its own) leaves the lock
  // file; the kernel dropped its flock, so the next command takes it.
  await Deno.remove(hold).catch(() => {});
  const crashed = spawnWithState(["start", "db", "--no-wait"], { xdg: state.xdg });
  await until(
    "the start to hold the lock",
    async () =>
      (await Deno.readTextFile(lock).catch(() => "")).startsWith(`${crashed.pid} start`) &&
      (await Deno.lstat(hold).catch(() => undefined))?.isSocket === true,
    20_000,
  );
  crashed.kill("SIGKILL");
  await crashed.output();
  assert.match(await Deno.readTextFile(lock), new RegExp(`^${crashed.pid} start`));
  // Its QEMU goes on once it is let through: the instance runs, started by nobody alive.
  (await Deno.connect({ transport: "unix", path: hold })).close();
  await until(
    "the orphaned QEMU to answer",
    async () => (await run("qmp", "db", "query-status")).code === 0,
  );
  const stop = await run("stop", "--force", "db");
  assert.equal(stop.code, 0, stop.stderr);
  await Deno.remove(hold).catch(() => {});
  const recovered = spawnWithState(["start", "db", "--no-wait"], { xdg: state.xdg });
  await until(
    "the hold socket",
    async () => (await Deno.lstat(hold).catch(() => undefined))?.isSocket === true,
    20_000,
  );
  (await Deno.connect({ transport: "unix", path: hold })).close();
  const end = await recovered.output();
  assert.equal(end.code, 0, decoder.decode(end.stderr));
  assert.equal(JSON.parse((await run("list", "--json")).stdout)[0].status, "running");
});

Deno.test("vmkit refuses bad instance names, and says how long a name may be", async () => {
  await using state = await scratchState();
  const run = (...args: string[]) => vmkit(args, { xdg: state.xdg });
  for (const name of [".hidden", "a/b", "sp ace", "x:y", "ümlaut"]) {
    const result = await run("start", name, "vm.yaml");
    assert.equal(result.code, 2, `${name}: ${result.stderr}`);
    assert.equal(
      result.stderr,
      `vmkit: Cannot use instance name ${
        JSON.stringify(name)
      }: use letters, digits, "-", "_" and ".", not starting with "." or "-"\n`,
    );
  }
  const dash = await run("info", "--", "-x");
  assert.equal(dash.code, 2);
  assert.match(dash.stderr, /not starting with "\." or "-"/);
  const long = "n".repeat(120);
  const tooLong = await run("start", long, "vm.yaml");
  assert.equal(tooLong.code, 2);
  const room = 107 - `${state.stateBase}//console.sock`.length;
  assert.match(
    tooLong.stderr,
    new RegExp(
      `would be ${
        `${state.stateBase}/${long}/console.sock`.length
      } bytes, and a unix socket path holds at most 107; use a name of at most ${room} characters here, or keep instances in a shorter directory \\(set XDG_STATE_HOME`,
    ),
  );
  const missing = await run("info", "nobody");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Cannot open instance "nobody": there is no such instance/);
  const noFile = await run("start", "nobody");
  assert.equal(noFile.code, 1);
  assert.match(
    noFile.stderr,
    /there is no such instance yet; give the VM to boot \(vmkit start nobody FILE\)/,
  );
});

Deno.test("a QEMU that fails to start is reported with what it said and its command line, and a first start that failed leaves no instance", async () => {
  await using state = await scratchState();
  const run = (...args: string[]) => vmkit(args, { xdg: state.xdg });
  await Deno.writeTextFile(
    `${state.xdg}/broken.yaml`,
    tinyDefinition("args: [-device, no-such-device]"),
  );
  const broken = await run("start", "broken", "broken.yaml");
  assert.equal(broken.code, 1);
  assert.match(
    broken.stderr,
    /^vmkit: Cannot start instance "broken": -device no-such-device: 'no-such-device' is not a valid device model name \(QEMU exited with code 1\)\nargv: qemu-system-x86_64 .* -daemonize\n/,
  );
  assert.equal((await run("list", "--json")).stdout, "[]\n");
  await assert.rejects(Deno.stat(`${state.stateBase}/broken`), Deno.errors.NotFound);
});

Deno.test("a guest that panics as it boots fails vmkit start with the console's lines before the panic, and is stopped, not left rebooting into it", async () => {
  await using state = await scratchState();
  const run = (...args: string[]) => vmkit(args, { xdg: state.xdg });
  const g = await tinyGuest("x86_64", { agent: true });
  // No init to run and no root to mount: the kernel says it cannot open the root, then panics.
  await Deno.writeTextFile(
    `${state.xdg}/panics.yaml`,
    [
      "arch: x86_64",
      "agent: true",
      "memory: 256M",
      `kernel: { path: ${g.kernel}, initrd: ${g.initrd}, append: rdinit=/nonexistent }`,
    ].join("\n") + "\n",
  );
  const start = await run("start", "panics", "panics.yaml");
  assert.equal(start.code, 1, start.stderr);
  assert.match(
    start.stderr,
    /vmkit: Cannot wait for instance "panics": the guest's kernel panicked: "Kernel panic - not syncing: VFS: Unable to mount root fs[^"]*"; the console's lines before it:\n.*\/dev\/root: Can't open blockdev\nIts console log is ".*\/panics\/console\.log"; vmkit stopped it \(a guest that panics as it boots reboots into the same panic\)\n/,
  );
  const list = JSON.parse((await run("list", "--json")).stdout);
  assert.deepEqual(list.map((i: { name: string; status: string }) => [i.name, i.status]), [
    ["panics", "stopped"],
  ]);
});

Deno.test("an instance whose record cannot be read is listed as broken, info says what to do, and delete --force removes it", async () => {
  await using state = await scratchState();
  const run = (...args: string[]) => vmkit(args, { xdg: state.xdg });
  const dir = `${state.stateBase}/wreck`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/instance.json`, '{"version": 1, "name": "wreck"}\n');
  const listed = await run("list", "--json");
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout), [{
    name: "wreck",
    dir,
    status: "broken",
    problem:
      `Cannot read the record of instance "wreck" ("${dir}/instance.json"): it is not a vmkit instance record (version 1); start the instance from its definition to write it anew, keeping its disks (vmkit start wreck FILE), or delete the instance (vmkit delete --force wreck)`,
  }]);
  assert.equal((await run("list", "-q")).stdout, "wreck\n");
  const info = await run("info", "wreck");
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /^status: +broken \(QEMU stopped\)$/m);
  assert.match(info.stdout, /^fix: +vmkit start wreck FILE writes the record anew/m);
  assert.match(info.stdout, /^fix: +vmkit delete --force wreck removes the instance/m);
  // Without its VM there is nothing to start.
  const start = await run("start", "wreck");
  assert.equal(start.code, 1);
  assert.match(start.stderr, /^vmkit: Cannot read the record of instance "wreck"/);
  const deleted = await run("delete", "--force", "wreck", "nosuch");
  assert.equal(deleted.code, 1);
  assert.match(deleted.stderr, /^vmkit: Cannot open instance "nosuch": there is no such instance/);
  assert.doesNotMatch(deleted.stderr, /vmkit start/);
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
});
