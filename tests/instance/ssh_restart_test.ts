// A restart finds the keys its first start made in the state directory: the ssh device keeps
// a key pair it finds there.

import assert from "node:assert/strict";
import { tinyGuest } from "../../lib/guest/tiny_guest.ts";
import { vm } from "../../lib/vm/builder.ts";
import { startInstance } from "../../lib/instance/start.ts";
import { scratchState } from "./_instances.ts";
import { vmkit } from "../cli/_vmkit.ts";

Deno.test("a restarted instance keeps its ssh keys and known host key, so a guest that kept what its seed gave it lets the same login in; vmkit ssh gives its command to the remote shell", async () => {
  await using state = await scratchState();
  const g = await tinyGuest("x86_64", { agent: true });
  // The tiny guest has no sshd: this checks what the host side keeps across starts.
  const builder = vm({ arch: "x86_64" }).memory("256M").kernel(g.kernel, { initrd: g.initrd })
    .cloudInit().ssh();
  const instance = await startInstance("keys", builder, { stateBase: state.stateBase });
  const files = ["id_ed25519", "id_ed25519.pub", "ssh_host_ed25519_key.pub", "known_hosts"];
  const read = () =>
    Promise.all(files.map((name) => Deno.readTextFile(`${instance.dir}/ssh/${name}`)));
  const before = await read();
  const login = (await instance.record()).ssh;
  assert.equal(login?.hostKeyGiven, true);
  assert.ok((await instance.record()).lastStart?.sshPort! > 0);
  await instance.stop({ force: true });

  await startInstance("keys", undefined, { stateBase: state.stateBase });
  assert.deepEqual(await read(), before);
  assert.deepEqual((await instance.record()).ssh, login);
  assert.ok((await instance.record()).lastStart?.sshPort! > 0);

  // vmkit ssh NAME CMD: one word is a line for the remote shell, as ssh passes it; several words
  // are quoted for it. An ssh on PATH that prints its arguments shows what the real one gets.
  const bin = `${state.xdg}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    `${bin}/ssh`,
    '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n',
  );
  await Deno.chmod(`${bin}/ssh`, 0o755);
  const remote = async (...words: string[]) => {
    const output = await vmkit(["ssh", "keys", ...words], {
      cwd: state.xdg,
      env: { XDG_STATE_HOME: state.xdg, PATH: `${bin}:${Deno.env.get("PATH")}` },
    });
    const lines = output.stdout.trimEnd().split("\n");
    assert.equal(output.code, 0, output.stderr);
    return lines[lines.length - 1];
  };
  assert.equal(await remote("--", "uname -a; id"), "uname -a; id");
  assert.equal(await remote("uname", "-a", "it's"), `uname -a 'it'\\''s'`);
  await instance.stop({ force: true });
});
