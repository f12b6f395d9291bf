import assert from "node:assert/strict";
import {
  definitionBuilder,
  DefinitionError,
  loadDefinition,
  vmDefinitionJsonSchema,
} from "../../lib/cli/definition/mod.ts";
import { schemaFileText } from "../../scripts/gen_schema.ts";
import { vm } from "../../lib/vm/builder.ts";
import { tinyGuest } from "../../lib/guest/tiny_guest.ts";
import { createImage } from "../../lib/image/create.ts";
import { detectImageFormat } from "../../lib/vm/image_format.ts";
import { chooseAccel } from "../../lib/vm/accel.ts";
import { detectHostFacts } from "../../lib/vm/_host.ts";
import { definitionWords } from "../../lib/cli/definition/_builder_words.ts";

const FIX = decodeURIComponent(new URL("./fixtures/definition", import.meta.url).pathname);
const ROOT = decodeURIComponent(new URL("../..", import.meta.url).pathname).replace(/\/$/, "");

/** The message of the DefinitionError loading a definition throws. */
async function problems(path: string, set: string[] = []): Promise<string> {
  try {
    await loadDefinition(path, { set });
  } catch (error) {
    if (error instanceof DefinitionError) return error.message;
    throw error;
  }
  throw new assert.AssertionError({ message: `${path} loaded without a problem` });
}

async function scratch(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "vmkit-definition-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

// Files with syntax errors are written by the tests: deno fmt would fix (or refuse) fixtures.

Deno.test("a YAML syntax error keeps js-yaml's line and column", async () => {
  await using dir = await scratch();
  await Deno.writeTextFile(
    `${dir.path}/vm.yaml`,
    "arch: x86_64\nmemory: 512M\ndisks: [\n  - size: 1G\n",
  );
  assert.equal(
    await problems(`${dir.path}/vm.yaml`),
    `${dir.path}/vm.yaml:4:3: missed comma between flow collection entries (YAML syntax)`,
  );
});

Deno.test("an unknown key is an error at the key that names the nearest known one", async () => {
  assert.equal(
    await problems(`${FIX}/unknown_key.yaml`),
    [
      `${FIX}/unknown_key.yaml:2:1: memry: unknown field, did you mean "memory"?`,
      `${FIX}/unknown_key.yaml:5:5: disks[0].read_only: unknown field, did you mean "readOnly"?`,
    ].join("\n"),
  );
});

Deno.test("a value of the wrong type says what it is and what is allowed", async () => {
  assert.equal(
    await problems(`${FIX}/wrong_type.yaml`),
    [
      `${FIX}/wrong_type.yaml:2:1: cpus: "four" is a string, expected a whole number from 1 to 4096`,
      `${FIX}/wrong_type.yaml:3:1: agent: "yes" is a string, expected true or false`,
    ].join("\n"),
  );
});

Deno.test("a value outside an enum names the value meant when one is near, else lists the values allowed", async () => {
  assert.equal(
    await problems(`${FIX}/bad_enum.yaml`),
    [
      `${FIX}/bad_enum.yaml:2:1: firmware: "efi" is not allowed, did you mean "uefi"?`,
      `${FIX}/bad_enum.yaml:5:5: disks[0].interface: "sata" is not allowed, expected "virtio-blk", "scsi", "nvme", "ide", "usb"`,
    ].join("\n"),
  );
});

Deno.test("a bad size says what is wrong with it and how sizes are written", async () => {
  const disk =
    'expected a number and a unit such as "10G" or "512M" (K, M, G, T, P: powers of 1024), in whole 512-byte sectors';
  assert.equal(
    await problems(`${FIX}/bad_size.yaml`),
    [
      `${FIX}/bad_size.yaml:3:1: memory: "1.5K" is not a whole number of MiB, expected a whole number of MiB such as "512M" or "2G" (units K, M, G, T: powers of 1024; a bare number is MiB)`,
      `${FIX}/bad_size.yaml:6:5: disks[1].size: "10X" has an unknown unit "X", ${disk}`,
      `${FIX}/bad_size.yaml:7:5: disks[2].size: "1024" has no unit, ${disk}`,
    ].join("\n"),
  );
});

Deno.test("a bad forward says how forwards are written, as text or as a mapping", async () => {
  assert.equal(
    await problems(`${FIX}/bad_forward.yaml`),
    [
      `${FIX}/bad_forward.yaml:4:7: network.forwards[0]: "2222-22" is not a forward, expected "HOST:GUEST" such as "2222:22" (also "ADDRESS:HOST:GUEST" and a "/udp" ending), or a mapping with host and guest ports`,
      `${FIX}/bad_forward.yaml:5:7: network.forwards[1]: guest port 70000 is out of range, expected a port from 1 to 65535`,
      `${FIX}/bad_forward.yaml:6:9: network.forwards[2].host: 70000 is too large, expected a port from 0 to 65535 (0: a free port picked at start)`,
      `${FIX}/bad_forward.yaml:7:7: network.forwards[3].guest: missing, expected a port from 1 to 65535`,
      `${FIX}/bad_forward.yaml:7:21: network.forwards[3].guset: unknown field, did you mean "guest"?`,
    ].join("\n"),
  );
});

Deno.test("a missing file is an error at load, where it was written, naming the path looked at", async () => {
  const from = "a relative path is read from the directory of";
  assert.equal(
    await problems(`${FIX}/missing_file.yaml`),
    [
      `${FIX}/missing_file.yaml:3:3: kernel.path: "${FIX}/files/no-such-vmlinuz" does not exist, expected a kernel image; ${from} ${FIX}/missing_file.yaml`,
      `${FIX}/missing_file.yaml:6:5: disks[0].overlayOf: "${FIX}/files/no-such-base.qcow2" does not exist, expected a disk image (raw or qcow2); ${from} ${FIX}/missing_file.yaml`,
    ].join("\n"),
  );
});

Deno.test("an extends cycle is an error naming the chain, where it closes", async () => {
  assert.equal(
    await problems(`${FIX}/cycle_a.yaml`),
    `${FIX}/cycle_b.yaml:2:1: extends: the chain of extends loops: ${FIX}/cycle_a.yaml → ${FIX}/cycle_b.yaml → ${FIX}/cycle_a.yaml, expected a chain that ends in a file without extends`,
  );
});

Deno.test("a bad --set names the flag: a value of the wrong type, a bad key, a missing value, an index past the end", async () => {
  assert.equal(
    await problems(`${FIX}/valid.yaml`, ["cpus=zero"]),
    `--set cpus=zero: cpus: "zero" is a string, expected a whole number from 1 to 4096`,
  );
  assert.equal(
    await problems(`${FIX}/valid.yaml`, ["memry=2G"]),
    `--set memry=2G: memry: unknown field, did you mean "memory"?`,
  );
  assert.equal(
    await problems(`${FIX}/valid.yaml`, ["memory", "disks[x]=1", "disks[3].size=1G"]),
    [
      "--set memory: no value given, expected key=value, such as memory=2G, cpus=4 or disks[0].size=20G",
      '--set disks[x]=1: "disks[x]" is not a field path, expected field names joined by "." and list indexes in brackets, such as memory, disks[0].size or ssh.user',
      "--set disks[3].size=1G: disks[3].size: disks has 1 item, and there is no [3], expected an index from 0 to 1 (1 adds an item)",
    ].join("\n"),
  );
  assert.equal(
    await problems(`${FIX}/valid.yaml`, ["kernel.path.x=1"]),
    `--set kernel.path.x=1: kernel.path.x: kernel.path is "files/vmlinuz", which has no field "x", expected --set kernel.path=VALUE with the whole value`,
  );
});

Deno.test("a JSON definition reports JSON syntax errors and field errors with their positions", async () => {
  await using dir = await scratch();
  await Deno.writeTextFile(`${dir.path}/vm.json`, '{\n  "arch": "x86_64",\n  "memory": "1G",\n}\n');
  assert.equal(
    await problems(`${dir.path}/vm.json`),
    `${dir.path}/vm.json:4:1: Expected double-quoted property name (JSON syntax)`,
  );
  // A byte order mark is not counted.
  await Deno.writeTextFile(`${dir.path}/bom.json`, '\uFEFF{"arch": "x86_64", "cpus": "x"}');
  assert.equal(
    await problems(`${dir.path}/bom.json`),
    `${dir.path}/bom.json:1:20: cpus: "x" is a string, expected a whole number from 1 to 4096`,
  );
  assert.equal(
    await problems(`${FIX}/bad.json`),
    `${FIX}/bad.json:6:7: disks[1].size: 10 is a number, expected a number and a unit such as "10G" or "512M" (K, M, G, T, P: powers of 1024), in whole 512-byte sectors`,
  );
});

Deno.test("every problem of a file is reported in order, and the error's fields describe the first", async () => {
  const error = await loadDefinition(`${FIX}/many.yaml`).then(
    () => assert.fail("many.yaml loaded"),
    (error: unknown) => error,
  );
  assert.ok(error instanceof DefinitionError);
  assert.deepEqual(
    error.problems.map((p) => [p.line, p.column, p.field]),
    [[1, 1, "arch"], [2, 1, "cpus"], [3, 1, "memory"], [6, 5, "disks[0].overlayOf"], [
      7,
      8,
      "ssh.user",
    ]],
  );
  assert.equal(error.file, `${FIX}/many.yaml`);
  assert.equal(error.line, 1);
  assert.equal(error.column, 1);
  assert.equal(error.field, "arch");
  assert.equal(
    error.allowed,
    'expected "x86_64", "aarch64", "riscv64", "s390x", "ppc64le" (or "amd64", "x64", "arm64", "ppc64el")',
  );
  assert.equal(error.message.split("\n").length, 5);
});

Deno.test("extends merges mappings deeply and replaces lists; paths are read from the directory of the file that wrote them", async () => {
  const { path, definition } = await loadDefinition(`${FIX}/child.yaml`);
  assert.equal(path, `${FIX}/child.yaml`);
  assert.deepEqual(definition, {
    arch: "x86_64",
    memory: "1G",
    kernel: {
      path: `${FIX}/files/vmlinuz`,
      initrd: `${FIX}/files/initrd.img`,
      append: "console=ttyS0",
    },
    seed: { userData: { packages: ["jq"], runcmd: ["echo child"] } },
    network: { forwards: ["8080:80"] },
  });
});

Deno.test("a bad value in a file another extends is reported in the file that wrote it", async () => {
  assert.equal(
    await problems(`${FIX}/bad_child.yaml`),
    `${FIX}/base/bad_base.yaml:2:1: cpus: 0 is too small, expected a whole number from 1 to 4096`,
  );
});

Deno.test("--set reads values as YAML: numbers, sizes, list items, fields of a true, flow mappings", async () => {
  const { definition } = await loadDefinition(`${FIX}/child.yaml`, {
    set: [
      "cpus=4",
      "memory=2G",
      "network.forwards[1]={host: 2223, guest: 23}",
      "kernel.append=console=ttyS0 quiet",
      "ssh=true",
      "ssh.user=me",
    ],
  });
  assert.equal(definition.cpus, 4);
  assert.equal(definition.memory, "2G");
  assert.deepEqual(definition.network, { forwards: ["8080:80", { host: 2223, guest: 23 }] });
  assert.deepEqual(definition.kernel, {
    path: `${FIX}/files/vmlinuz`,
    initrd: `${FIX}/files/initrd.img`,
    append: "console=ttyS0 quiet",
  });
  assert.deepEqual(definition.ssh, { user: "me" });
});

Deno.test("a problem with a field a --set made is reported at that --set", async () => {
  assert.equal(
    await problems(`${FIX}/valid.yaml`, ["ssh.user=me"]),
    "--set ssh.user=me: ssh: the key vmkit makes for the VM reaches the guest through the cloud-init seed, and there is none, expected a seed (seed: {} is enough for an image with cloud-init), or ssh.identity with a key the guest accepts already",
  );
});

Deno.test("YAML merge keys and anchors are read, and a bad key merged beside them is found", async () => {
  await using dir = await scratch();
  await Deno.writeTextFile(
    `${dir.path}/vm.yaml`,
    [
      "arch: x86_64",
      "disks:",
      "  - &disk { size: 1G, interface: scsi }",
      "  - <<: *disk",
      "    readOnly: true",
      "  - <<: *disk",
      "    interfac: nvme",
    ].join("\n"),
  );
  assert.equal(
    await problems(`${dir.path}/vm.yaml`),
    `${dir.path}/vm.yaml:7:5: disks[2].interfac: unknown field, did you mean "interface"?`,
  );
  await Deno.writeTextFile(
    `${dir.path}/vm.yaml`,
    "arch: x86_64\ndisks:\n  - &disk { size: 1G, interface: scsi }\n  - <<: *disk\n    readOnly: true\n",
  );
  const { definition } = await loadDefinition(`${dir.path}/vm.yaml`);
  assert.deepEqual(definition.disks, [
    { size: "1G", interface: "scsi" },
    { size: "1G", interface: "scsi", readOnly: true },
  ]);
});

Deno.test("firmware: uefi is checked without looking for the firmware, which launch finds", async () => {
  await using dir = await scratch();
  await Deno.writeTextFile(
    `${dir.path}/vm.yaml`,
    "arch: x86_64\nfirmware: uefi\ndisks: [{ size: 1G }]\n",
  );
  const { definition } = await loadDefinition(`${dir.path}/vm.yaml`);
  const builder = await definitionBuilder(definition, { diskDir: dir.path, create: false });
  assert.equal(builder.uefiFirmware, true);
});

Deno.test("~/ in a path is read from HOME", async () => {
  await using dir = await scratch();
  await Deno.copyFile(`${FIX}/files/vmlinuz`, `${dir.path}/vmlinuz`);
  await Deno.writeTextFile(`${dir.path}/vm.yaml`, "arch: x86_64\nkernel: ~/vmlinuz\n");
  const home = Deno.env.get("HOME");
  Deno.env.set("HOME", dir.path);
  try {
    const { definition } = await loadDefinition(`${dir.path}/vm.yaml`);
    assert.equal(definition.kernel, `${dir.path}/vmlinuz`);
  } finally {
    if (home === undefined) Deno.env.delete("HOME");
    else Deno.env.set("HOME", home);
  }
});

Deno.test("cross-field mistakes are reported: ssh without a seed, guest with a kernel", async () => {
  await using dir = await scratch();
  await Deno.writeTextFile(`${dir.path}/k`, "");
  await Deno.writeTextFile(
    `${dir.path}/vm.yaml`,
    "arch: x86_64\nguest: tiny\nkernel: k\nssh: true\n",
  );
  assert.equal(
    await problems(`${dir.path}/vm.yaml`),
    [
      `${dir.path}/vm.yaml:3:1: kernel: kernel cannot be given with guest: tiny, which brings its own, expected one of guest and kernel`,
      `${dir.path}/vm.yaml:4:1: ssh: the key vmkit makes for the VM reaches the guest through the cloud-init seed, and there is none, expected a seed (seed: {} is enough for an image with cloud-init), or ssh.identity with a key the guest accepts already`,
    ].join("\n"),
  );
});

Deno.test("definitionBuilder maps each field onto the builder", async () => {
  const { definition } = await loadDefinition(`${FIX}/valid.yaml`);
  const built = await definitionBuilder(definition, { diskDir: "/nowhere", create: false });
  const byHand = vm({ arch: "x86_64" }).smp(2).memory("512M").accel("tcg")
    .kernel(`${FIX}/files/vmlinuz`, { initrd: `${FIX}/files/initrd.img`, append: "quiet" })
    .drive(`${FIX}/files/disk.raw`, { format: "raw", readOnly: true })
    .network({
      type: "user",
      forwards: [
        { hostPort: 2222, guestPort: 22 },
        { hostPort: 8080, guestPort: 80, protocol: "tcp", hostAddress: "127.0.0.1" },
      ],
    })
    .device({ kind: "9p", path: `${FIX}/files/share`, tag: "data" })
    .arg("-device", "virtio-rng-pci");
  assert.deepEqual(built.toArgv(), byHand.toArgv());
  assert.ok(built.toArgv().includes("-smp"));
});

Deno.test("definitionBuilder gives guest: tiny the tiny guest's kernel, its agent variant with agent, and the seed and ssh", async () => {
  await using dir = await scratch();
  await Deno.writeTextFile(
    `${dir.path}/vm.yaml`,
    [
      "arch: x86_64",
      "guest: tiny",
      "agent: true",
      "seed:",
      "  userData: { runcmd: [echo hi] }",
      "  metaData: { local-hostname: t }",
      "ssh: { user: debian }",
    ].join("\n"),
  );
  const { definition } = await loadDefinition(`${dir.path}/vm.yaml`);
  const built = await definitionBuilder(definition, { diskDir: dir.path, create: true });
  const guest = await tinyGuest("x86_64", { agent: true });
  const byHand = vm({ arch: "x86_64" }).kernel(guest.kernel, { initrd: guest.initrd })
    .cloudInit({ userData: { runcmd: ["echo hi"] }, metaData: { "local-hostname": "t" } })
    .ssh({ user: "debian" }).guestAgent();
  assert.deepEqual(built.toArgv(), byHand.toArgv());
  assert.ok(guest.initrd.endsWith("initrd-agent.img"));
});

Deno.test("definitionBuilder makes overlays and new disks in diskDir only with create, named by place, and keeps them", async () => {
  await using dir = await scratch();
  await createImage(`${dir.path}/base.qcow2`, { size: "1M" });
  await createImage(`${dir.path}/base.raw`, { size: "1M", format: "raw" });
  await Deno.writeTextFile(
    `${dir.path}/vm.yaml`,
    [
      "arch: x86_64",
      "disks:",
      "  - overlayOf: base.qcow2",
      "    size: 2M",
      "  - overlayOf: base.raw",
      "    format: raw",
      "  - size: 1M",
      "  - size: 1M",
      "    format: raw",
    ].join("\n"),
  );
  const { definition } = await loadDefinition(`${dir.path}/vm.yaml`);
  const disks = `${dir.path}/disks`;
  const shown = await definitionBuilder(definition, { diskDir: disks, create: false });
  assert.deepEqual(shown.drives.map((d) => [d.file, d.format]), [
    [`${disks}/disk0.qcow2`, "qcow2"],
    [`${disks}/disk1.qcow2`, "qcow2"],
    [`${disks}/disk2.qcow2`, "qcow2"],
    [`${disks}/disk3.raw`, "raw"],
  ]);
  await assert.rejects(() => Deno.stat(disks), Deno.errors.NotFound);

  const made = await definitionBuilder(definition, { diskDir: disks, create: true });
  assert.deepEqual(made.toArgv(), shown.toArgv());
  assert.deepEqual((await detectImageFormat(`${disks}/disk0.qcow2`)).backing, {
    file: `${dir.path}/base.qcow2`,
    format: "qcow2",
  });
  assert.deepEqual((await detectImageFormat(`${disks}/disk1.qcow2`)).backing, {
    file: `${dir.path}/base.raw`,
    format: "raw",
  });
  assert.equal((await detectImageFormat(`${disks}/disk2.qcow2`)).backing, undefined);
  assert.equal((await Deno.stat(`${disks}/disk3.raw`)).size, 2 ** 20);
  // The overlay is as large as asked: qcow2's header holds the size at offset 24.
  const header = await Deno.readFile(`${disks}/disk0.qcow2`);
  assert.equal(new DataView(header.buffer).getBigUint64(24), 2n * 2n ** 20n);

  // A second start keeps them as they are.
  const before = await Promise.all([0, 1, 2].map((i) => Deno.stat(`${disks}/disk${i}.qcow2`)));
  await Deno.writeFile(`${disks}/disk3.raw`, new Uint8Array([7]), { append: false, create: false });
  await definitionBuilder(definition, { diskDir: disks, create: true });
  const after = await Promise.all([0, 1, 2].map((i) => Deno.stat(`${disks}/disk${i}.qcow2`)));
  assert.deepEqual(after.map((s) => [s.ino, s.mtime]), before.map((s) => [s.ino, s.mtime]));
  assert.equal((await Deno.stat(`${disks}/disk3.raw`)).size, 1);
});

Deno.test("the example definitions load", async () => {
  for (const name of ["tiny", "debian"]) {
    const { definition } = await loadDefinition(`${ROOT}/recipes/vm/${name}.yaml`);
    assert.equal(definition.arch, "x86_64");
    assert.equal(definition.agent, true);
  }
});

Deno.test("the committed JSON Schema is what gen:schema writes, and every field in it has a description", async () => {
  assert.equal(await Deno.readTextFile(`${ROOT}/lib/cli/vm.schema.json`), schemaFileText());
  const undescribed: string[] = [];
  const walk = (node: unknown, path: string) => {
    if (typeof node !== "object" || node === null) return;
    const record = node as Record<string, unknown>;
    if (typeof record.properties === "object" && record.properties !== null) {
      for (const [key, field] of Object.entries(record.properties)) {
        if (typeof (field as { description?: unknown }).description !== "string") {
          undescribed.push(`${path}.${key}`);
        }
      }
    }
    for (const [key, child] of Object.entries(record)) walk(child, `${path}/${key}`);
  };
  walk(vmDefinitionJsonSchema(), "");
  assert.deepEqual(undescribed, []);
});

/** Writes `lines` as vm.yaml in `dir` and returns the problems of loading it. */
async function problemsOf(dir: string, lines: string[], set: string[] = []): Promise<string> {
  await Deno.writeTextFile(`${dir}/vm.yaml`, lines.join("\n") + "\n");
  return await problems(`${dir}/vm.yaml`, set);
}

Deno.test("arch takes the names Debian and Docker use (amd64, arm64, ppc64el) as vmkit's, in files and --set; a near miss names the one meant", async () => {
  await using dir = await scratch();
  for (
    const [written, arch] of [["amd64", "x86_64"], ["arm64", "aarch64"], ["ppc64el", "ppc64le"]]
  ) {
    await Deno.writeTextFile(`${dir.path}/vm.yaml`, `arch: ${written}\n`);
    assert.equal((await loadDefinition(`${dir.path}/vm.yaml`)).definition.arch, arch);
  }
  await Deno.writeTextFile(`${dir.path}/vm.yaml`, "arch: x86_64\n");
  const set = await loadDefinition(`${dir.path}/vm.yaml`, { set: ["arch=arm64"] });
  assert.equal(set.definition.arch, "aarch64");
  assert.equal(
    await problemsOf(dir.path, ["cpus: 1", "arch: x86-64"]),
    `${dir.path}/vm.yaml:2:1: arch: "x86-64" is not allowed, did you mean "x86_64"?`,
  );
  const schema = vmDefinitionJsonSchema() as { properties: { arch: { enum: string[] } } };
  assert.ok(schema.properties.arch.enum.includes("arm64"));
  assert.ok(schema.properties.arch.enum.includes("aarch64"));
});

Deno.test("a host port forwarded twice is reported at the second forward, in a definition's words", async () => {
  await using dir = await scratch();
  assert.equal(
    await problemsOf(dir.path, [
      "arch: x86_64",
      "network:",
      "  forwards:",
      '    - "2222:22"',
      '    - "5353:53/udp"',
      "    - { host: 2222, guest: 80 }",
      '    - "0.0.0.0:5353:54/udp"',
      '    - "0:22"',
      '    - "0:23"',
    ]),
    [
      `${dir.path}/vm.yaml:6:7: network.forwards[2]: host port 2222 (tcp on 127.0.0.1) is forwarded already by network.forwards[0], expected each host port once (or 0, a free port picked at start)`,
      `${dir.path}/vm.yaml:7:7: network.forwards[3]: host port 5353 (udp on 0.0.0.0) is forwarded already by network.forwards[1] (on 127.0.0.1), expected each host port once (or 0, a free port picked at start)`,
    ].join("\n"),
  );
});

Deno.test("fields that clash are reported at the one to change, before the builder would refuse them in its own words", async () => {
  await using dir = await scratch();
  await Deno.mkdir(`${dir.path}/share`);
  const file = `${dir.path}/vm.yaml`;
  assert.equal(
    await problemsOf(dir.path, [
      "arch: s390x",
      "shares: [{ host: share, tag: data }, { host: share, tag: data }]",
      "disks: [{ size: 1G, interface: nvme }, { size: 1G, readOnly: true, interface: ide }]",
      "seed: { format: configdrive, networkConfig: { version: 2 }, via: http }",
      'args: [-device, "virtio-rng-ccw\\n"]',
    ]),
    [
      `${file}:2:53: shares[1].tag: "data" is the tag of shares[0] too, expected a tag of its own for each share (the guest mounts a share by its tag)`,
      `${file}:3:21: disks[0].interface: "nvme" needs a PCI controller, and QEMU for s390x has none, expected "virtio-blk" or "scsi"`,
      `${file}:3:52: disks[1].readOnly: an IDE hard disk cannot be read-only (QEMU refuses it), expected readOnly: false, or another interface such as "virtio-blk" or "scsi"`,
      `${file}:3:68: disks[1].interface: "ide" needs a PCI controller, and QEMU for s390x has none, expected "virtio-blk" or "scsi"`,
      `${file}:4:30: seed.networkConfig: networkConfig is NoCloud's, and format is configdrive, expected networkData (OpenStack's network_data.json) with format: configdrive, or format: nocloud`,
      `${file}:4:61: seed.via: http serves only NoCloud seeds (cloud-init fetches no ConfigDrive over HTTP), and format is configdrive, expected via: disk, or format: nocloud`,
      `${file}:5:17: args[1]: "virtio-rng-ccw\\n" is not a single line, expected a QEMU argument: one line of text (no newline or NUL)`,
    ].join("\n"),
  );
  assert.equal(
    await problemsOf(dir.path, ["arch: x86_64", "seed: { networkData: {}, via: http }"]),
    [
      `${file}:2:9: seed.networkData: networkData is ConfigDrive's, and format is nocloud (the default), expected networkConfig with a NoCloud seed, or format: configdrive`,
      `${file}:2:26: seed.via: http needs a user-mode network to serve the seed through, and the VM has no network, expected via: disk, or network: "user"`,
    ].join("\n"),
  );
});

Deno.test("a refusal that only the builder finds is phrased in a definition's words, not the builder's API", async () => {
  await using dir = await scratch();
  // cloud-init's own check of user-data, behind the builder's .cloudInit().
  assert.equal(
    await problemsOf(dir.path, ["arch: x86_64", "seed:", "  userData: { users: [{}] }"]),
    `${dir.path}/vm.yaml:2:1: seed: cannot write cloud-config: users[0] needs a name`,
  );
  // The builder's messages, as the library says them, and as a definition problem reads them.
  const said: [string, string][] = [
    [
      'Cannot save snapshot "a": the VM has no writable qcow2 disk to hold its state; add one with .drive(file, { format: "qcow2" })',
      'cannot save snapshot "a": the VM has no writable qcow2 disk to hold its state; add one with a qcow2 disk (disks: - size: 10G)',
    ],
    [
      'Cannot ssh into instance "a": its VM has no ssh login; add .ssh() (ssh: true in a definition)',
      'cannot ssh into instance "a": its VM has no ssh login; add ssh: true',
    ],
    [
      "Cannot forward host port tcp:127.0.0.1:2222 twice: network forwards[0] binds tcp:127.0.0.1:2222, and network forwards[1] binds it too",
      "cannot forward host port tcp:127.0.0.1:2222 twice: network.forwards[0] binds tcp:127.0.0.1:2222, and network.forwards[1] binds it too",
    ],
    [
      'Cannot serve the cloud-init seed over HTTP: the VM has no user-mode network to fetch it through (10.0.2.2); add .network({ type: "user" }), or use via: "disk"',
      'cannot serve the cloud-init seed over HTTP: the VM has no user-mode network to fetch it through (10.0.2.2); add network: user, or use via: "disk"',
    ],
    [
      'Cannot add 9p device: 9p tag "a" is used by both 9p device 0 and 9p device 1',
      'cannot add 9p device: 9p tag "a" is used by both shares[0] and shares[1]',
    ],
  ];
  for (const [builder, definition] of said) assert.equal(definitionWords(builder), definition);
});

Deno.test("more CPUs than the machine takes are refused at cpus: q35's 288, aarch64 virt's 8 under TCG unless args pick GICv3", async () => {
  await using dir = await scratch();
  assert.equal(
    await problemsOf(dir.path, ["arch: x86_64", "cpus: 4096"]),
    `${dir.path}/vm.yaml:2:1: cpus: 4096 is more than the x86_64 machine takes (QEMU's q35), expected at most 288`,
  );
  await Deno.writeTextFile(`${dir.path}/vm.yaml`, "arch: x86_64\ncpus: 288\n");
  await loadDefinition(`${dir.path}/vm.yaml`);
  assert.equal(
    await problemsOf(dir.path, ["arch: aarch64", "accel: tcg", "cpus: 16"]),
    `${dir.path}/vm.yaml:3:1: cpus: 16 is more than the aarch64 machine takes under TCG (QEMU's virt, whose default GICv2 serves 8), expected at most 8; args: ["-machine", "gic-version=3"] takes up to 512`,
  );
  await Deno.writeTextFile(
    `${dir.path}/vm.yaml`,
    "arch: aarch64\naccel: tcg\ncpus: 16\nargs: [-machine, gic-version=3]\n",
  );
  await loadDefinition(`${dir.path}/vm.yaml`);
  assert.equal(
    await problems(`${FIX}/valid.yaml`, ["cpus=300"]),
    "--set cpus=300: cpus: 300 is more than the x86_64 machine takes (QEMU's q35), expected at most 288",
  );
});

/** What /proc/meminfo says the host has, in bytes. */
async function hostMemoryBytes(): Promise<number> {
  const text = await Deno.readTextFile("/proc/meminfo");
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)![1]);
  return (kib("MemTotal") + kib("SwapTotal")) * 1024;
}

Deno.test("memory beyond the host's memory and swap is refused at memory, saying how much there is", async () => {
  await using dir = await scratch();
  const mode = (await Deno.readTextFile("/proc/sys/vm/overcommit_memory")).trim();
  if (mode === "1") {
    // Linux lets any allocation through: QEMU starts with 900T as with 1G.
    await Deno.writeTextFile(`${dir.path}/vm.yaml`, "arch: x86_64\nmemory: 900T\n");
    await loadDefinition(`${dir.path}/vm.yaml`);
    return;
  }
  const message = await problemsOf(dir.path, ["arch: x86_64", "memory: 900T"]);
  if (mode === "2") {
    assert.match(
      message,
      /memory: "900T" is more than this host can give a VM \(.* left to commit/,
    );
    return;
  }
  const limit = Math.floor(await hostMemoryBytes() / 2 ** 20);
  assert.match(
    message,
    new RegExp(
      `^${dir.path}/vm\\.yaml:2:1: memory: "900T" is more than this host can give a VM \\([\\d.]+ GiB of memory and (no swap|[\\d.]+ GiB of swap)\\), expected at most ${limit}M; QEMU could not allocate more$`,
    ),
  );
  await Deno.writeTextFile(`${dir.path}/vm.yaml`, `arch: x86_64\nmemory: ${limit}M\n`);
  await loadDefinition(`${dir.path}/vm.yaml`);
});

Deno.test("a kernel file is read: another architecture's kernel, a text file and an empty one are refused at the kernel's field", async () => {
  await using dir = await scratch();
  const arm = await tinyGuest("aarch64");
  const x86 = await tinyGuest("x86_64");
  await Deno.writeTextFile(`${dir.path}/notes.txt`, "not a kernel\n");
  await Deno.writeTextFile(`${dir.path}/empty`, "");
  assert.equal(
    await problemsOf(dir.path, ["arch: x86_64", `kernel: ${arm.kernel}`]),
    `${dir.path}/vm.yaml:2:1: kernel: "${arm.kernel}" is a kernel for aarch64 (arm64-image), and the VM is x86_64, expected a kernel for x86_64, or arch: aarch64`,
  );
  assert.equal(
    await problemsOf(dir.path, ["arch: aarch64", "kernel:", `  path: ${x86.kernel}`]),
    `${dir.path}/vm.yaml:3:3: kernel.path: "${x86.kernel}" is a kernel for x86_64 (${
      x86.kernel.endsWith("vmlinux") ? "elf" : "bzImage"
    }), and the VM is aarch64, expected a kernel for aarch64, or arch: x86_64`,
  );
  assert.equal(
    await problemsOf(dir.path, ["arch: x86_64", "kernel: notes.txt"]),
    `${dir.path}/vm.yaml:2:1: kernel: "${dir.path}/notes.txt" is not a Linux kernel image (no bzImage, ELF, arm64 or RISC-V Image, or PE header), expected a kernel such as arch/x86/boot/bzImage, vmlinux or Debian's vmlinuz`,
  );
  assert.equal(
    await problemsOf(dir.path, ["arch: aarch64", "kernel: { path: empty }"]),
    `${dir.path}/vm.yaml:2:11: kernel.path: "${dir.path}/empty" is empty, expected a kernel such as arch/arm64/boot/Image, vmlinux or Debian's vmlinuz`,
  );
  await Deno.writeTextFile(`${dir.path}/vm.yaml`, `arch: arm64\nkernel: ${arm.kernel}\n`);
  await loadDefinition(`${dir.path}/vm.yaml`);
});

Deno.test("accel: kvm is refused where KVM cannot run the guest, with chooseAccel's reason", async () => {
  await using dir = await scratch();
  const foreign = await problemsOf(dir.path, ["arch: s390x", "accel: kvm"]);
  assert.equal(
    foreign,
    `${dir.path}/vm.yaml:2:1: accel: KVM cannot run this VM here: the s390x guest differs from the ${Deno.build.arch} host, expected "auto" (KVM where it works, else TCG) or "tcg"`,
  );
  const choice = chooseAccel("x86_64", { ...detectHostFacts(), override: undefined });
  await Deno.writeTextFile(`${dir.path}/vm.yaml`, "arch: x86_64\naccel: kvm\n");
  if (choice.accel === "kvm") await loadDefinition(`${dir.path}/vm.yaml`);
  else {
    assert.equal(
      await problems(`${dir.path}/vm.yaml`),
      `${dir.path}/vm.yaml:2:1: accel: KVM cannot run this VM here: ${choice.reason}, expected "auto" (KVM where it works, else TCG) or "tcg"`,
    );
  }
});

Deno.test("the tiny guest's memory floor (measured: it panics below 74M, 86M with the agent, 58M on aarch64) is enforced at memory", async () => {
  await using dir = await scratch();
  assert.equal(
    await problemsOf(dir.path, ["arch: x86_64", "guest: tiny", "memory: 32M"]),
    `${dir.path}/vm.yaml:3:1: memory: "32M" is too little for the x86_64 tiny guest, expected at least 80M (it boots in 74M at the least; with less, its kernel runs out of memory)`,
  );
  assert.equal(
    await problemsOf(dir.path, ["arch: x86_64", "guest: tiny", "agent: true", "memory: 90"]),
    `${dir.path}/vm.yaml:4:1: memory: 90 is too little for the x86_64 tiny guest with the agent, expected at least 96M (it boots in 86M at the least; with less, its kernel runs out of memory)`,
  );
  assert.equal(
    await problemsOf(dir.path, ["arch: aarch64", "guest: tiny"], ["memory=48M"]),
    `--set memory=48M: memory: "48M" is too little for the aarch64 tiny guest, expected at least 64M (it boots in 58M at the least; with less, its kernel runs out of memory)`,
  );
  for (
    const lines of [["guest: tiny", "memory: 80M"], ["guest: tiny", "agent: true", "memory: 96M"]]
  ) {
    await Deno.writeTextFile(`${dir.path}/vm.yaml`, ["arch: x86_64", ...lines].join("\n"));
    await loadDefinition(`${dir.path}/vm.yaml`);
  }
});

Deno.test("shares with the tiny guest are refused, saying why its kernel cannot mount 9p and what to boot instead", async () => {
  await using dir = await scratch();
  await Deno.mkdir(`${dir.path}/shared`);
  const x86 = await tinyGuest("x86_64");
  const arm = await tinyGuest("aarch64");
  const release = (guest: { modulesDir?: string }) => guest.modulesDir!.split("/").pop();
  // Debian's cloud kernel has no 9p at all; the aarch64 (generic) one has it as modules.
  assert.equal(
    await problemsOf(dir.path, [
      "arch: x86_64",
      "guest: tiny",
      "shares:",
      "  - { host: shared, tag: data }",
    ]),
    `${dir.path}/vm.yaml:3:1: shares: the x86_64 tiny guest cannot mount 9p shares: its kernel (${
      release(x86)
    }) has no 9p file system, expected no shares with guest: tiny (vmkit cp copies files in through the agent), or kernel: { path, initrd } in place of guest: a kernel with 9p (such as Debian's linux-image-amd64, not its cloud flavour) and an initrd that loads 9p and 9pnet_virtio`,
  );
  assert.match(
    await problemsOf(dir.path, [
      "arch: aarch64",
      "guest: tiny",
      "shares: [{ host: shared, tag: data }]",
    ]),
    new RegExp(
      `^${dir.path}/vm\\.yaml:3:1: shares: the aarch64 tiny guest cannot mount 9p shares: its kernel \\(${
        release(arm)
      }\\) has 9p as modules \\(9p, 9pnet, 9pnet_virtio\\), which its initramfs does not hold, expected `,
    ),
  );
});
