import assert from "node:assert/strict";
import {
  type CloudConfig,
  cloudConfig,
  cloudInit,
  type CloudInitNetworkConfig,
  configDrive,
} from "../../mod.ts";
import { scratchDir } from "../vm/_disks.ts";

async function run(
  command: string,
  args: string[],
  stdin?: string,
): Promise<{ code: number; text: string; stderr: string }> {
  const child = new Deno.Command(command, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  return { code, text: new TextDecoder().decode(stdout), stderr: new TextDecoder().decode(stderr) };
}

async function ok(command: string, args: string[], stdin?: string): Promise<string> {
  const { code, text, stderr } = await run(command, args, stdin);
  assert.equal(code, 0, `${command} ${args.join(" ")}: ${stderr}`);
  return text;
}

/** The Rock Ridge paths of the regular files in an image, from xorriso. */
async function filesIn(path: string): Promise<string[]> {
  const text = await ok("xorriso", ["-indev", path, "-find", "/", "-type", "f", "-exec", "lsdl"]);
  return [...text.matchAll(/^-\S+ .* '\/(.*)'$/gm)].map((m) => m[1]).sort();
}

/** Reads YAML with PyYAML, the parser cloud-init uses (YAML 1.1), and returns it as JSON. */
async function pyYaml(text: string): Promise<unknown> {
  const script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))";
  return JSON.parse(await ok("python3", ["-c", script], text));
}

const HAS_PYYAML =
  (await run("python3", ["-c", "import yaml"]).catch(() => ({ code: 1 }))).code === 0;

const CONFIG: CloudConfig = {
  hostname: "vm1",
  users: [
    "default",
    {
      name: "me",
      sudo: "ALL=(ALL) NOPASSWD:ALL",
      groups: ["adm", "sudo"],
      shell: "/bin/bash",
      lock_passwd: false,
      ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB me@host"],
    },
  ],
  ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC root@host"],
  ssh_genkeytypes: ["ed25519"],
  chpasswd: { expire: false, users: [{ name: "me", password: "pw", type: "text" }] },
  write_files: [
    { path: "/etc/motd", content: "line: one\nyes\n0644\n", permissions: "0644" },
    { path: "/usr/local/bin/x", content: new Uint8Array([0, 1, 2, 255]), permissions: 0o755 },
  ],
  runcmd: ["echo 'a: b' > /run/x", ["touch", "/run/y"], ["sh", "-c", "echo on"]],
  packages: ["curl", ["jq", "1.6-2.1"]],
  package_update: false,
  timezone: "UTC",
  final_message: undefined,
  power_state: { mode: "poweroff", condition: true },
  // Keys vmkit does not type pass through as written.
  ntp: { enabled: false, servers: ["1:20", "null", "~"] },
};

Deno.test("cloudInit writes a NoCloud seed labelled cidata whose files are exactly the seed's", async () => {
  await using dir = await scratchDir();
  const seed = cloudInit({
    userData: CONFIG,
    metaData: { "local-hostname": "vm1" },
    networkConfig: { version: 2, ethernets: { eth0: { dhcp4: true } } },
    vendorData: "#!/bin/sh\necho vendor\n",
  });
  assert.equal(seed.label, "cidata");
  await seed.write(`${dir.path}/seed.iso`);
  assert.equal((await Deno.stat(`${dir.path}/seed.iso`)).mode! & 0o777, 0o600);
  assert.deepEqual(await Deno.readFile(`${dir.path}/seed.iso`), seed.bytes);
  const blkid = await ok("blkid", ["-p", "-o", "export", `${dir.path}/seed.iso`]);
  assert.match(blkid, /^LABEL=cidata$/m);
  assert.match(blkid, /^TYPE=iso9660$/m);
  assert.deepEqual(await filesIn(`${dir.path}/seed.iso`), [
    "meta-data",
    "network-config",
    "user-data",
    "vendor-data",
  ]);
  assert.deepEqual(Object.keys(seed.files).sort(), await filesIn(`${dir.path}/seed.iso`));
  for (const [name, text] of Object.entries(seed.files)) {
    assert.equal(await ok("isoinfo", ["-R", "-x", `/${name}`, "-i", `${dir.path}/seed.iso`]), text);
  }
  assert.equal(seed.files["vendor-data"], "#!/bin/sh\necho vendor\n");
  assert.ok(seed.files["user-data"].startsWith("#cloud-config\n"));
  assert.ok(seed.files["meta-data"].startsWith(`instance-id: ${seed.instanceId}\n`));
});

Deno.test({
  name: HAS_PYYAML
    ? "PyYAML, the parser cloud-init uses, reads user-data, meta-data and network-config back as given"
    : "PyYAML reads the seed back as given [skipped: needs python3-yaml]",
  ignore: !HAS_PYYAML,
  async fn() {
    const network: CloudInitNetworkConfig = {
      version: 2,
      ethernets: { eth0: { match: { macaddress: "52:54:00:12:34:56" }, dhcp4: true } },
    };
    const seed = cloudInit({
      userData: CONFIG,
      metaData: { "local-hostname": "vm1" },
      networkConfig: network,
    });
    const expected = JSON.parse(JSON.stringify(CONFIG));
    expected.write_files[1] = { ...expected.write_files[1], content: "AAEC/w==", encoding: "b64" };
    assert.deepEqual(await pyYaml(seed.files["user-data"]), expected);
    assert.deepEqual(await pyYaml(seed.files["meta-data"]), {
      "instance-id": seed.instanceId,
      "local-hostname": "vm1",
    });
    assert.deepEqual(await pyYaml(seed.files["network-config"]), network);
  },
});

Deno.test("the instance id comes from the content: the same seed keeps it, another gets a new one", () => {
  const a = cloudInit({ userData: { runcmd: ["true"] } });
  const b = cloudInit({ userData: { runcmd: ["true"] } });
  const c = cloudInit({ userData: { runcmd: ["false"] } });
  const d = cloudInit({ userData: { runcmd: ["true"] }, metaData: { "local-hostname": "other" } });
  assert.match(a.instanceId, /^iid-[0-9a-f]{16}$/);
  assert.equal(a.instanceId, b.instanceId);
  assert.deepEqual(a.bytes, b.bytes);
  assert.notEqual(a.instanceId, c.instanceId);
  assert.notEqual(a.instanceId, d.instanceId);
  const given = cloudInit({
    userData: "",
    metaData: { "instance-id": "i-1234", "local-hostname": "h" },
  });
  assert.equal(given.instanceId, "i-1234");
  assert.equal(given.files["meta-data"], "instance-id: i-1234\nlocal-hostname: h\n");
  assert.equal(given.files["user-data"], "");
  assert.notDeepEqual(
    cloudInit({ userData: "", date: new Date("2024-01-01T00:00:00Z") }).bytes,
    cloudInit({ userData: "" }).bytes,
  );
});

Deno.test("raw user-data with a marker cloud-init acts on passes as is; other text is refused", () => {
  const accepted = [
    "#cloud-config\nhostname: x\n",
    "#cloud-config\n",
    "#cloud-config\n# nothing yet\n\n",
    "#!/bin/sh\necho hi\n",
    "  #!/bin/bash\ntrue\n",
    "#include\nhttps://example.com/config\n",
    "#include-once\nhttps://example.com/config\n",
    "#cloud-boothook\n#!/bin/sh\ntrue\n",
    "#part-handler\ndef list_types(): return []\n",
    "#cloud-config-archive\n- type: text/cloud-config\n  content: 'a: 1'\n",
    "#cloud-config-jsonp\n[]\n",
    "## template: jinja\n#cloud-config\nhostname: {{ v1.instance_id }}\n",
    "#Cloud-Config\nhostname: x\n",
    'Content-Type: multipart/mixed; boundary="b"\nMIME-Version: 1.0\n\n--b\n',
    "",
    "\n",
  ];
  for (const text of accepted) assert.equal(cloudInit({ userData: text }).files["user-data"], text);
  assert.throws(() => cloudInit({ userData: "hostname: x\n" }), {
    name: "TypeError",
    message:
      /user-data starts with "hostname: x\\n", which cloud-init ignores; start it with #cloud-config, #!/,
  });
  assert.throws(() => cloudInit({ userData: "#cloud-config\nruncmd: [\n" }), {
    name: "TypeError",
    message: /user-data is #cloud-config but not YAML: /,
  });
  assert.throws(() => cloudInit({ userData: "#cloud-config\n- a\n- b\n" }), {
    message: /user-data is #cloud-config but not a YAML mapping/,
  });
  assert.throws(() => cloudInit({ userData: "#cloud-config\n", vendorData: "echo" }), {
    message: /vendor-data starts with "echo"/,
  });
});

Deno.test("cloudConfig refuses what cloud-init would only log, naming the field", () => {
  assert.equal(cloudConfig({}), "#cloud-config\n");
  assert.equal(cloudConfig({ hostname: "h", locale: undefined }), "#cloud-config\nhostname: h\n");
  assert.equal(
    cloudConfig({ ssh_authorized_keys: ["ssh-ed25519 AAAA me@host\n"] }),
    "#cloud-config\nssh_authorized_keys:\n  - ssh-ed25519 AAAA me@host\n",
  );
  const bad: [CloudConfig, RegExp][] = [
    [{ users: [{ name: "" }] }, /users\[0\] needs a name/],
    [
      { users: [{ name: "me", ssh_authorized_keys: ["a\nb"] }] },
      /users\[0\]\.ssh_authorized_keys must be a list of one-line keys/,
    ],
    [
      { ssh_authorized_keys: "ssh-ed25519 A" as unknown as string[] },
      /ssh_authorized_keys must be a list/,
    ],
    [{ write_files: [{ path: "etc/x" }] }, /write_files\[0\] needs an absolute path/],
    [
      { write_files: [{ path: "/x", content: new Uint8Array(1), encoding: "gzip" }] },
      /has bytes, written base64, but encoding "gzip"/,
    ],
    [
      { runcmd: [["ls", 1 as unknown as string]] },
      /runcmd must be a list of shell lines or argv lists/,
    ],
    [{ bootcmd: "ls" as unknown as string[] }, /bootcmd must be a list/],
    [{ x: () => 1 }, /Cannot write cloud-config\.x: .* cannot be written as YAML/],
    [{ x: new Map() }, /cloud-config\.x: \[object Map\] cannot be written as YAML/],
    [{ x: Number.NaN }, /cloud-config\.x: NaN cannot/],
    [{ x: new Uint8Array(1) }, /cloud-config\.x: \[object Uint8Array\] cannot/],
  ];
  for (const [config, message] of bad) {
    assert.throws(() => cloudConfig(config), { name: "TypeError", message });
  }
  assert.throws(() => cloudConfig([] as unknown as CloudConfig), /the document must be an object/);
});

Deno.test("network-config is written as given, checked for its version when an object", () => {
  const text = "version: 2\nethernets: {}\n";
  assert.equal(cloudInit({ userData: "", networkConfig: text }).files["network-config"], text);
  const wrapped = cloudInit({
    userData: "",
    networkConfig: { network: { version: 1, config: [] } },
  });
  assert.equal(wrapped.files["network-config"], "network:\n  version: 1\n  config: []\n");
  assert.equal(
    cloudInit({ userData: "", networkConfig: { config: "disabled" } }).files["network-config"],
    "config: disabled\n",
  );
  assert.throws(() => cloudInit({ userData: "", networkConfig: { ethernets: {} } }), {
    name: "TypeError",
    message: /network-config version must be 1 or 2, not undefined/,
  });
  assert.throws(() => cloudInit({ userData: "", metaData: { "instance-id": "" } }), {
    message: /meta-data instance-id must be a non-empty string/,
  });
});

Deno.test("configDrive writes a config-2 volume with OpenStack's files under openstack/latest", async () => {
  await using dir = await scratchDir();
  const network = {
    links: [{ id: "eth0", type: "phy", ethernet_mac_address: "52:54:00:12:34:56" }],
    networks: [],
    services: [],
  };
  const seed = configDrive({
    userData: { runcmd: ["touch /run/from-config-drive"] },
    metaData: {
      hostname: "vm1",
      public_keys: { me: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB me@host" },
    },
    networkData: network,
    vendorData: "#cloud-config\npackages: []\n",
  });
  assert.equal(seed.label, "config-2");
  assert.match(
    seed.instanceId,
    /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  await seed.write(`${dir.path}/config.iso`);
  assert.match(
    await ok("blkid", ["-p", "-o", "export", `${dir.path}/config.iso`]),
    /^LABEL=config-2$/m,
  );
  assert.deepEqual(await filesIn(`${dir.path}/config.iso`), [
    "openstack/latest/meta_data.json",
    "openstack/latest/network_data.json",
    "openstack/latest/user_data",
    "openstack/latest/vendor_data.json",
  ]);
  const read = (name: string) =>
    ok("isoinfo", ["-R", "-x", `/openstack/latest/${name}`, "-i", `${dir.path}/config.iso`]);
  assert.deepEqual(JSON.parse(await read("meta_data.json")), {
    uuid: seed.instanceId,
    hostname: "vm1",
    public_keys: { me: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB me@host" },
  });
  assert.equal(
    await read("user_data"),
    "#cloud-config\nruncmd:\n  - touch /run/from-config-drive\n",
  );
  assert.deepEqual(JSON.parse(await read("network_data.json")), network);
  assert.deepEqual(JSON.parse(await read("vendor_data.json")), {
    "cloud-init": "#cloud-config\npackages: []\n",
  });
  assert.equal(configDrive({ metaData: { uuid: "u-1" } }).instanceId, "u-1");
  assert.deepEqual(configDrive({}).bytes, configDrive({}).bytes);
});

Deno.test("a seed builds in a script run with no permissions (js-yaml reads no environment)", async () => {
  await using dir = await scratchDir();
  const script = `${dir.path}/seed.ts`;
  const module = new URL("../../lib/guest/cloud_init.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { cloudInit } from "${module}";\n` +
      `const seed = cloudInit({ userData: { hostname: "x", runcmd: ["true"] } });\n` +
      `console.log(seed.instanceId, seed.bytes.length);\n`,
  );
  const out = await ok(Deno.execPath(), ["run", "--no-prompt", "--quiet", script]);
  const seed = cloudInit({ userData: { hostname: "x", runcmd: ["true"] } });
  assert.equal(out, `${seed.instanceId} ${seed.bytes.length}\n`);
});
