import assert from "node:assert/strict";
import { cloudInit, configDrive, serveCloudInit, tinyGuest, vm } from "../../mod.ts";

Deno.test("a seed served over HTTP reaches a guest on user networking at 10.0.2.2, named by its SMBIOS serial", async () => {
  const seed = cloudInit({
    userData: { runcmd: ["true"] },
    metaData: { "instance-id": "iid-http", "local-hostname": "served" },
  });
  await using server = await serveCloudInit(seed);
  assert.match(server.serial, /^ds=nocloud-net;s=http:\/\/10\.0\.2\.2:\d+\/$/);
  const g = await tinyGuest("x86_64");
  await using machine = await vm({ arch: "x86_64" }).memory("256M")
    .kernel(g.kernel, { initrd: g.initrd })
    .network({ type: "user" })
    .smbios({ type: 1, serial: server.serial })
    .launch({ timeout: 60_000 });
  const run = async (command: string) => (await machine.console.exec(command)).output;
  // The serial arrives whole: its ";" and ":" survive the SMBIOS option list.
  assert.equal(await run("cat /sys/class/dmi/id/product_serial"), server.serial);
  const url = server.serial.replace(/^.*;s=/, "");
  assert.equal(await run(`wget -q -O - ${url}meta-data`), seed.files["meta-data"].trimEnd());
  assert.match(await run(`wget -q -O - ${url}user-data`), /^#cloud-config/);
  assert.equal(await run(`wget -q -O - ${url}vendor-data; echo "[$?]"`), "[0]");
  assert.match(await run(`wget -q -O - ${url}nothing 2>&1; echo "[$?]"`), /\[1\]$/);
  assert.deepEqual(server.requests, ["/meta-data", "/user-data", "/vendor-data", "/nothing"]);
  // Only 127.0.0.1 listens.
  assert.equal(new URL(server.url).hostname, "127.0.0.1");
});

Deno.test("a ConfigDrive seed is not served: cloud-init fetches only NoCloud seeds", async () => {
  await assert.rejects(
    serveCloudInit(configDrive({ userData: "#cloud-config\n" })),
    /Cannot serve a "config-2" seed over HTTP/,
  );
});
