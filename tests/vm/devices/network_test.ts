import assert from "node:assert/strict";
import { tinyGuest, type Vm, vm, VmBuilder, VmLaunchError } from "../../../mod.ts";
import {
  checkNetworks,
  type NetworkDescription,
  networkInputs,
  networkPlan,
  parseNetwork,
} from "../../../lib/vm/devices/network.ts";
import { archProfile } from "../../../lib/vm/arch.ts";
import { planArgv } from "../../../lib/vm/devices/_plan.ts";
import { methodField } from "../../../lib/vm/_validate.ts";
import { jsonOptions } from "../_argv.ts";

const base = vm({ arch: "x86_64" }).accel("tcg");
const field = methodField("network");

async function guestVm(): Promise<VmBuilder> {
  const g = await tinyGuest("x86_64");
  return vm({ arch: "x86_64" }).memory("256M").kernel(g.kernel, { initrd: g.initrd });
}

/** A port nothing listens on (just closed). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * A host TCP service on 127.0.0.1: counts connections, keeps what it receives, and answers each
 * HTTP request it sees (`\r\n\r\n`) with `reply`, so a guest's `wget` finishes.
 */
function hostService(reply: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const handlers: Promise<void>[] = [];
  const service = {
    port: (listener.addr as Deno.NetAddr).port,
    connections: 0,
    received: "",
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed by its peer already.
        }
      }
      await serving;
      await Promise.all(handlers);
    },
  };
  const answer = new TextEncoder().encode(
    `HTTP/1.0 200 OK\r\nContent-Length: ${reply.length + 1}\r\n\r\n${reply}\n`,
  );
  const handle = async (conn: Deno.Conn) => {
    let requests = 0;
    let text = "";
    const buffer = new Uint8Array(4096);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        const chunk = new TextDecoder().decode(buffer.subarray(0, n));
        text += chunk;
        service.received += chunk;
        while (text.split("\r\n\r\n").length - 1 > requests) {
          requests++;
          await conn.write(answer);
        }
      }
    } catch {
      // Closed at dispose.
    }
  };
  const serving = (async () => {
    try {
      for await (const conn of listener) {
        service.connections++;
        conns.push(conn);
        handlers.push(handle(conn));
      }
    } catch {
      // Closed at dispose.
    }
  })();
  return service;
}

async function until<T>(what: string, check: () => T | Promise<T>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`never happened: ${what}`);
}

async function run(machine: Vm, command: string): Promise<string> {
  const { output, exitCode } = await machine.console.exec(command, { timeout: 30_000 });
  assert.equal(exitCode, 0, `"${command}" failed: ${output}`);
  return output;
}

/** Runs an `ip` command on the host, as root. */
async function ip(...args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("ip", {
    args,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!success) throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
}

Deno.test("network backends are written with QAPI's types: booleans, integers, a string fd and a string port", () => {
  const argv = base
    .network({
      type: "user",
      restrict: true,
      ipv6: false,
      net: "192.168.76.0/24",
      dns: "192.168.76.53",
      dhcpStart: "192.168.76.50",
      hostname: "guest-1",
      forwards: [{ hostPort: 2222, guestPort: 22 }],
      guestForwards: [{ guestPort: 80, host: "127.0.0.1", port: 8080 }],
    })
    .network({ type: "tap", ifname: "tap0", vhost: true, queues: 4, mac: "52:54:00:00:00:01" })
    .network({ type: "tap", fd: 7 })
    .network({ type: "bridge", bridge: "br0" })
    .network({ type: "stream", server: true, address: "/run/link.sock" })
    .network({ type: "stream", server: false, address: "[::1]:5000", model: "e1000" })
    .network({ type: "stream", server: false, address: "vm-a.local:5000", bootIndex: 2 })
    .toArgv();
  assert.deepEqual(jsonOptions(argv, "-netdev"), [
    {
      type: "user",
      id: "net0",
      net: "192.168.76.0/24",
      dns: "192.168.76.53",
      dhcpstart: "192.168.76.50",
      hostname: "guest-1",
      restrict: true,
      ipv6: false,
      hostfwd: [{ str: "tcp:127.0.0.1:2222-:22" }],
      // The default guest address is the 100th of net, not 10.0.2.100.
      guestfwd: [{ str: "tcp:192.168.76.100:80-tcp:127.0.0.1:8080" }],
    },
    {
      type: "tap",
      id: "net1",
      ifname: "tap0",
      script: "no",
      downscript: "no",
      vhost: true,
      queues: 4,
    },
    { type: "tap", id: "net2", fd: "7" },
    { type: "bridge", id: "net3", br: "br0" },
    { type: "stream", id: "net4", server: true, addr: { type: "unix", path: "/run/link.sock" } },
    {
      type: "stream",
      id: "net5",
      server: false,
      addr: { type: "inet", host: "::1", port: "5000" },
    },
    {
      type: "stream",
      id: "net6",
      server: false,
      addr: { type: "inet", host: "vm-a.local", port: "5000" },
    },
  ]);
  const devices = jsonOptions(argv, "-device");
  assert.deepEqual(devices[1], {
    driver: "virtio-net-pci",
    netdev: "net1",
    id: "net1",
    mac: "52:54:00:00:00:01",
    mq: true,
    vectors: 10,
  });
  assert.deepEqual(devices[5], { driver: "e1000", netdev: "net5", id: "net5" });
  assert.deepEqual(devices[6], {
    driver: "virtio-net-pci",
    netdev: "net6",
    id: "net6",
    bootindex: 2,
  });
  // virtio-mmio and channel I/O have no MSI-X vectors: multi-queue without them.
  const mq = { type: "tap", ifname: "tap0", queues: 2 } as const;
  assert.deepEqual(jsonOptions(base.machine("microvm").network(mq).toArgv(), "-device"), [
    { driver: "virtio-net-device", netdev: "net0", id: "net0", mq: true },
  ]);
  assert.deepEqual(
    jsonOptions(vm({ arch: "s390x" }).accel("tcg").network(mq).toArgv(), "-device"),
    [
      { driver: "virtio-net-ccw", netdev: "net0", id: "net0", mq: true },
    ],
  );
  // vhost-user: a client chardev to the backend's socket, then the netdev on it.
  const shared = base.memory("256M", { backend: { type: "memfd", share: true } })
    .network({ type: "vhost-user", socket: "/run/vhost.sock", queues: 2 }).toArgv();
  const chardev = shared.indexOf("socket,id=net0-chr,path=/run/vhost.sock,server=off");
  assert.deepEqual(shared.slice(chardev - 1, chardev + 3), [
    "-chardev",
    "socket,id=net0-chr,path=/run/vhost.sock,server=off",
    "-netdev",
    '{"type":"vhost-user","id":"net0","chardev":"net0-chr","queues":2}',
  ]);
});

/** Starts QEMU with these options and no machine, and returns what it said if it refused them. */
async function qemuRefusal(options: string[]): Promise<string | undefined> {
  const child = new Deno.Command("qemu-system-x86_64", {
    args: ["-M", "none", "-display", "none", "-nodefaults", "-S", "-qmp", "stdio", ...options],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode('{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n'),
  ).catch(() => {});
  await writer.close().catch(() => {});
  const { success, stderr } = await child.output();
  return success ? undefined : new TextDecoder().decode(stderr);
}

Deno.test("QEMU takes the backends as written, and refuses one the QAPI types do not fit", async () => {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "vmkit-net-" });
  try {
    const argv = base
      .network({
        type: "user",
        restrict: true,
        ipv6: false,
        net: "192.168.76.0/24",
        dns: "192.168.76.53",
        dhcpStart: "192.168.76.50",
        hostname: "guest-1",
        forwards: [{ protocol: "udp", hostAddress: "127.0.0.1", hostPort: port, guestPort: 53 }],
      })
      .network({ type: "stream", server: true, address: `127.0.0.1:${port}` })
      .network({ type: "stream", server: true, address: `${dir}/link.sock` })
      .toArgv();
    const netdevs = argv.flatMap((arg, i) => arg === "-netdev" ? ["-netdev", argv[i + 1]] : []);
    assert.equal(netdevs.length, 6);
    assert.equal(await qemuRefusal(netdevs), undefined);
    // The check can fail: the same stream backend with the port as a number is refused.
    const wrong = JSON.stringify({
      type: "stream",
      id: "n",
      addr: { type: "inet", host: "127.0.0.1", port },
    });
    assert.match((await qemuRefusal(["-netdev", wrong]))!, /port.*string/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("options that cannot go together fail at build time, naming both", () => {
  const cases: [NetworkDescription, RegExp][] = [
    [
      { type: "tap", ifname: "tap0", queues: 2, model: "e1000" },
      /Error: Cannot use network queues 2 with network model "e1000": only virtio-net has several queues/,
    ],
    [
      { type: "tap", ifname: "tap0", vhost: true, model: "rtl8139" },
      /Error: Cannot use network vhost with network model "rtl8139": vhost-net serves only virtio-net/,
    ],
    [
      { type: "tap", fd: 5, queues: 2 },
      /Error: Cannot use network queues with network fd: .* open it by ifname/,
    ],
    [{ type: "tap", ifname: "tap0", fd: 5 }, /give either network ifname or network fd, not both/],
    [{ type: "tap" }, /not neither/],
    [
      { type: "vhost-user", socket: "/run/v.sock", model: "e1000e" },
      /Error: Cannot use a vhost-user backend with network model "e1000e"/,
    ],
    [
      { type: "user", net: "192.168.76.0/24", dhcpStart: "10.0.2.15" },
      /Error: Cannot set network dhcpStart: first DHCP address "10\.0\.2\.15" is outside network net "192\.168\.76\.0\/24"/,
    ],
    [
      { type: "user", dhcpStart: "10.0.2.2" },
      /Error: Cannot set network dhcpStart: first DHCP address "10\.0\.2\.2" is the host's address/,
    ],
    [
      { type: "user", dns: "10.0.2.20", dhcpStart: "10.0.2.20" },
      /Error: Cannot set network dhcpStart: .* is the DNS server's address/,
    ],
    [
      { type: "user", dns: "10.0.2.2" },
      /Error: Cannot set network dns to "10\.0\.2\.2": it is the host's/,
    ],
    [
      { type: "user", net: "10.0.2.0/30" },
      /Error: Cannot set network net "10\.0\.2\.0\/30": its default first DHCP address 10\.0\.2\.3 is the DNS server's address; give network dhcpStart/,
    ],
    [{ type: "user", net: "10.0.2.0/31" }, /prefix nn from 4 to 30/],
    [{ type: "user", net: "10.0.2.0" }, /use "a\.b\.c\.d\/nn"/],
    [
      {
        type: "user",
        net: "192.168.76.0/24",
        guestForwards: [{ guestAddress: "10.0.2.100", guestPort: 80, host: "h", port: 1 }],
      },
      /Error: Cannot set network guestForwards\[0\]\.guestAddress: guest address "10\.0\.2\.100" is outside network net "192\.168\.76\.0\/24"/,
    ],
    [
      {
        type: "user",
        guestForwards: [{ guestAddress: "10.0.2.3", guestPort: 80, host: "h", port: 1 }],
      },
      /is the DNS server's address/,
    ],
    [
      {
        type: "user",
        net: "10.0.2.0/28",
        guestForwards: [{ guestPort: 80, host: "h", port: 1 }],
      },
      /has no 100th address, the default guestAddress; give network guestForwards\[0\]\.guestAddress/,
    ],
    [
      {
        type: "user",
        guestForwards: [
          { guestPort: 80, host: "h", port: 1 },
          { guestAddress: "10.0.2.101", guestPort: 80, host: "h", port: 2 },
        ],
      },
      /Error: Cannot forward guest port 80 twice: network guestForwards\[0\] and network guestForwards\[1\]/,
    ],
    [
      {
        type: "user",
        forwards: [
          { hostAddress: "0.0.0.0", hostPort: 2222, guestPort: 22 },
          { hostPort: 2222, guestPort: 23 },
        ],
      },
      /Error: Cannot forward host port tcp:127\.0\.0\.1:2222 twice: network forwards\[0\] binds tcp:0\.0\.0\.0:2222, and network forwards\[1\] binds it too/,
    ],
    [
      { type: "user", forwards: [{ hostAddress: "localhost", hostPort: 1, guestPort: 1 }] },
      /Error: Cannot set network forwards\[0\]\.hostAddress to "localhost": use an IPv4 address/,
    ],
    [{ type: "user", mac: "01:00:5e:00:00:01" }, /needs a unicast address/],
    [{ type: "user", mac: "00:00:00:00:00:00" }, /needs a unicast address/],
    [{ type: "stream", server: false, address: "link.sock" }, /with a "\/" \("\.\/link\.sock"/],
    [{ type: "stream", server: false, address: "host:70000" }, /use a port from 1 to 65535/],
    [{ type: "stream", address: "/a" } as never, /use true \(listen\) or false \(connect\)/],
    [{ type: "bridge", bridge: "a bridge" }, /Error: Cannot use bridge "a bridge"/],
  ];
  for (const [network, message] of cases) {
    assert.throws(() => base.network(network), message, JSON.stringify(network));
  }
  // What depends on the machine fails when the command line is written.
  assert.throws(
    () => base.network({ type: "vhost-user", socket: "/run/v.sock" }).toArgv(),
    /^TypeError: Cannot add network "net0" \(vhost-user "\/run\/v\.sock"\): its backend maps guest memory, and the VM has no shared memory backend; use \.memory\(size, \{ backend: \{ type: "memfd", share: true \} \}\)$/,
  );
  assert.throws(
    () => base.machine("microvm").network({ type: "user", model: "e1000" }).toArgv(),
    /^TypeError: Cannot add network "net0" with model "e1000": it is a PCI card, and machine "microvm" has no PCI bus; use model "virtio-net"$/,
  );
  assert.throws(
    () => vm({ arch: "s390x" }).accel("tcg").network({ type: "user", model: "rtl8139" }).toArgv(),
    /machine "s390-ccw-virtio" has no PCI bus/,
  );
});

Deno.test("networks of one VM that would share a port, a tap or a socket are refused, naming both", () => {
  const ids = ["a", "b"];
  const pairs: [NetworkDescription, NetworkDescription, RegExp][] = [
    [
      { type: "user", forwards: [{ hostPort: 2222, guestPort: 22 }] },
      { type: "user", forwards: [{ hostAddress: "0.0.0.0", hostPort: 2222, guestPort: 22 }] },
      /Error: Cannot add network "b": host port tcp:0\.0\.0\.0:2222 is also forwarded by network "a"$/,
    ],
    [
      { type: "user", guestForwards: [{ guestPort: 80, host: "h", port: 1 }] },
      { type: "user", guestForwards: [{ guestPort: 80, host: "h", port: 2 }] },
      /Error: Cannot add network "b": guest forward port 80 is also used by network "a"$/,
    ],
    [
      { type: "tap", ifname: "tap0" },
      { type: "tap", ifname: "tap0" },
      /tap device "tap0" is also used by network "a"/,
    ],
    [
      { type: "stream", server: true, address: "/s" },
      { type: "stream", server: true, address: "/s" },
      /stream address "\/s" is also used by network "a"/,
    ],
  ];
  for (const [a, b, message] of pairs) {
    assert.throws(() => checkNetworks([a, b], ids), message);
  }
  checkNetworks([
    { type: "user", forwards: [{ hostPort: 2222, guestPort: 22 }] },
    { type: "user", forwards: [{ protocol: "udp", hostPort: 2222, guestPort: 22 }] },
    { type: "stream", server: false, address: "/s" },
    { type: "stream", server: false, address: "/s" },
  ], ["a", "b", "c", "d"]);
});

Deno.test("a network needs its client socket, /dev/vhost-net and the bridge access list, each with what to do", () => {
  assert.deepEqual(networkInputs({ type: "stream", server: false, address: "/r/l.sock" }, "n"), [
    {
      what: 'network "n" stream socket',
      path: "/r/l.sock",
      hint: "start the VM that listens on it (server: true) first",
      expect: "any",
    },
  ]);
  assert.deepEqual(networkInputs({ type: "stream", server: true, address: "/r/l.sock" }, "n"), []);
  assert.deepEqual(networkInputs({ type: "stream", server: false, address: "h:1" }, "n"), []);
  assert.deepEqual(networkInputs({ type: "bridge", bridge: "br7" }, "n").map((f) => f.hint), [
    "install qemu-system-common",
    'allow the bridge in it: echo "allow br7" >> /etc/qemu/bridge.conf',
  ]);
  assert.deepEqual(networkInputs({ type: "bridge", bridge: "b", helper: "/my/helper" }, "n"), []);
  assert.deepEqual(
    networkInputs({ type: "tap", ifname: "t", vhost: true }, "n").map((f) => f.path),
    [
      "/dev/vhost-net",
    ],
  );
  assert.deepEqual(
    networkInputs({ type: "vhost-user", socket: "/r/v.sock" }, "n").map((f) => f.path),
    ["/r/v.sock"],
  );
});

Deno.test("a JSON description's network errors name the field's path", () => {
  const read = (networks: unknown) => () => VmBuilder.fromJSON({ arch: "x86_64", networks });
  assert.throws(
    read([{
      type: "user",
      forwards: [{ hostPort: 22, guestPort: 22 }, { hostPort: -1, guestPort: 1 }],
    }]),
    /^RangeError: Cannot read VM description: .*networks\[0\]\.forwards\[1\]\.hostPort -1: use a port from 1 to 65535, or 0 for a free one picked at launch$/,
  );
  assert.throws(
    read([{ type: "user" }, {
      type: "user",
      guestForwards: [{ guestPort: 1, host: "h", port: "80" }],
    }]),
    /networks\[1\]\.guestForwards\[0\]\.port "80": use a port/,
  );
  assert.throws(
    read([{ type: "user", forwards: [{ hostPort: 1, guestPort: 1, extra: 1 }] }]),
    /networks\[0\]\.forwards\[0\]: unknown field "extra"/,
  );
  assert.throws(read([{ type: "tap", ifname: "t", queues: 0 }]), /networks\[0\]\.queues to 0/);
  assert.throws(read([{ type: "ether" }]), /networks\[0\]\.type to "ether"/);
  // And a description that was written out reads back the same.
  const builder = base.network({
    type: "user",
    net: "192.168.76.0/24",
    guestForwards: [{ guestPort: 80, host: "127.0.0.1", port: 8080 }],
  });
  const again = VmBuilder.fromJSON(JSON.parse(JSON.stringify(builder.toJSON())));
  assert.deepEqual(again.toArgv(), builder.toArgv());
});

Deno.test("a user network hands the guest the address, DNS server and host name chosen, and carries its connections to the host", async () => {
  await using service = hostService("hello from the host");
  await using machine = await (await guestVm())
    .network({
      type: "user",
      net: "192.168.76.0/24",
      dhcpStart: "192.168.76.50",
      dns: "192.168.76.53",
      hostname: "vmkit-net-guest",
      guestForwards: [{ guestPort: 4444, host: "127.0.0.1", port: service.port }],
    })
    .launch({ timeout: 60_000 });
  assert.match(await run(machine, "ip -4 addr show dev eth0"), /inet 192\.168\.76\.50\/24 /);
  assert.match(await run(machine, "ip route"), /default via 192\.168\.76\.2 dev eth0/);
  assert.equal(await run(machine, "cat /etc/resolv.conf"), "nameserver 192.168.76.53");
  // The host name is DHCP option 12: ask again, with a script that prints what came.
  await run(
    machine,
    `printf '#!/bin/sh\\n[ "$1" = bound ] && echo "lease $ip $hostname"\\n' > /tmp/lease && chmod +x /tmp/lease`,
  );
  assert.equal(
    await run(machine, "udhcpc -i eth0 -q -n -t 3 -T 1 -s /tmp/lease 2>/dev/null"),
    "lease 192.168.76.50 vmkit-net-guest",
  );
  // QEMU connected to the host service at start; each guest connection to 192.168.76.100:4444
  // (the 100th address of net) travels over that one connection.
  assert.equal(service.connections, 1);
  assert.equal(
    await run(machine, "wget -q -O - http://192.168.76.100:4444/first"),
    "hello from the host",
  );
  assert.equal(
    await run(machine, "wget -q -O - http://192.168.76.100:4444/second"),
    "hello from the host",
  );
  assert.match(service.received, /^GET \/first HTTP\/1\.1\r\n[^]*GET \/second HTTP\/1\.1\r\n/);
  assert.equal(service.connections, 1);
  // Unrestricted, the host's own services are at the gateway's address.
  await using other = hostService("reachable");
  assert.equal(await run(machine, `wget -q -O - http://192.168.76.2:${other.port}/`), "reachable");
  assert.equal(other.connections, 1);
});

Deno.test("a restricted user network lets the forwards through, both ways, and nothing else", async () => {
  await using service = hostService("hello through restrict");
  await using blocked = hostService("must not be reached");
  const hostPort = freePort();
  await using machine = await (await guestVm())
    .network({
      type: "user",
      restrict: true,
      forwards: [{ hostPort, guestPort: 8080 }],
      guestForwards: [{ guestPort: 4444, host: "127.0.0.1", port: service.port }],
    })
    .launch({ timeout: 60_000 });
  // Host to guest: a web server in the guest, reached at 127.0.0.1:hostPort on the host.
  await run(
    machine,
    "mkdir -p /tmp/www && echo hello from the guest > /tmp/www/index.html && httpd -p 8080 -h /tmp/www",
  );
  const response = await fetch(`http://127.0.0.1:${hostPort}/index.html`);
  assert.equal(await response.text(), "hello from the guest\n");
  // Guest to host through the guest forward.
  assert.equal(
    await run(machine, "wget -q -O - http://10.0.2.100:4444/"),
    "hello through restrict",
  );
  // Anything else is dropped: the host's service at the gateway's address is out of reach.
  // (nc waits 3 s to connect; timeout stops it should it connect after all.)
  const { output, exitCode } = await machine.console.exec(
    `echo knock | timeout 6 nc -w 3 10.0.2.2 ${blocked.port}`,
  );
  assert.notEqual(exitCode, 0, output);
  assert.equal(blocked.connections, 0);
});

Deno.test("a NIC hot-added with a user network and a guest forward reaches the host service", async () => {
  await using service = hostService("hello to the hot-added card");
  await using machine = await (await guestVm()).hotplugSlots(1).launch({ timeout: 60_000 });
  assert.equal(await run(machine, "ls /sys/class/net"), "lo");
  const nic = await machine.addNic({
    network: {
      type: "user",
      guestForwards: [{ guestPort: 4444, host: "127.0.0.1", port: service.port }],
    },
  });
  // netdev_add connected QEMU to the host service, as at start.
  await until("QEMU connects to the host service", () => service.connections === 1);
  await until(
    "the guest sees eth0 with the card's MAC",
    async () =>
      (await machine.console.exec("cat /sys/class/net/eth0/address 2>&1")).output === nic.mac,
  );
  await run(machine, "ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up");
  assert.equal(
    await run(machine, "wget -q -O - http://10.0.2.100:4444/hot"),
    "hello to the hot-added card",
  );
  assert.match(service.received, /^GET \/hot /);
});

Deno.test("two VMs on a stream socket share an Ethernet link when the listening one starts first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-net-" });
  try {
    const address = `${dir}/link.sock`;
    const builder = await guestVm();
    // The listener first: QEMU 7.2 connects once, at start, and a failed connect leaves the card
    // without a link for good. Two VMs on one link need their own MACs.
    await using server = await builder
      .network({ type: "stream", server: true, address, mac: "52:54:00:00:10:01" })
      .launch({ timeout: 60_000 });
    assert.ok((await Deno.lstat(address)).isSocket);
    await using client = await builder
      .network({ type: "stream", server: false, address, mac: "52:54:00:00:10:02" })
      .launch({ timeout: 60_000 });
    await run(server, "ip addr add 192.168.100.1/24 dev eth0 && ip link set eth0 up");
    await run(client, "ip addr add 192.168.100.2/24 dev eth0 && ip link set eth0 up");
    assert.match(await run(client, "ping -c 2 -W 5 192.168.100.1"), /2 packets received/);
    assert.match(await run(server, "ping -c 1 -W 5 192.168.100.2"), /1 packets received/);
    assert.match(
      await run(server, "ip neigh"),
      /192\.168\.100\.2 dev eth0 lladdr 52:54:00:00:10:02/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a guest on a host tap device, with two queues, reaches the host's address on it", async () => {
  const tap = `vmkt${Deno.pid % 100000}`;
  await ip("tuntap", "add", "dev", tap, "mode", "tap", "multi_queue");
  try {
    await ip("addr", "add", "192.168.77.1/24", "dev", tap);
    await ip("link", "set", tap, "up");
    await using machine = await (await guestVm())
      .network({ type: "tap", ifname: tap, queues: 2 })
      .launch({ timeout: 60_000 });
    // Multi-queue was offered: VIRTIO_NET_F_MQ is feature bit 22.
    assert.equal((await run(machine, "cat /sys/class/net/eth0/device/features"))[22], "1");
    await run(machine, "ip addr add 192.168.77.2/24 dev eth0 && ip link set eth0 up");
    assert.match(await run(machine, "ping -c 2 -W 5 192.168.77.1"), /2 packets received/);
  } finally {
    await ip("link", "del", tap);
  }
});

Deno.test("a guest on a host bridge through qemu-bridge-helper reaches the host's address on it", async () => {
  const bridge = `vmktbr${Deno.pid % 100000}`;
  const conf = "/etc/qemu/bridge.conf";
  const before = await Deno.readTextFile(conf).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  const madeDir = await Deno.mkdir("/etc/qemu").then(() => true, (error) => {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  });
  await ip("link", "add", bridge, "type", "bridge");
  try {
    await Deno.writeTextFile(conf, `${before ?? ""}allow ${bridge}\n`);
    await ip("addr", "add", "192.168.78.1/24", "dev", bridge);
    await ip("link", "set", bridge, "up");
    const builder = await guestVm();
    // A bridge the access list does not allow: the helper's own words reach the error.
    const refused = await builder.network({ type: "bridge", bridge: "vmktnone0" }).launch({
      timeout: 60_000,
    }).catch((error) => error);
    assert.ok(refused instanceof VmLaunchError, String(refused));
    assert.match(refused.message, /bridge helper failed[^]*access denied by acl file/);
    await using machine = await builder
      .network({ type: "bridge", bridge })
      .launch({ timeout: 60_000 });
    await run(machine, "ip addr add 192.168.78.2/24 dev eth0 && ip link set eth0 up");
    assert.match(await run(machine, "ping -c 2 -W 5 192.168.78.1"), /2 packets received/);
  } finally {
    await ip("link", "del", bridge);
    if (before !== undefined) await Deno.writeTextFile(conf, before);
    else if (madeDir) await Deno.remove("/etc/qemu", { recursive: true });
    else await Deno.remove(conf);
  }
});

Deno.test("a vhost-user network connects to its backend and opens the vhost-user handshake", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-net-" });
  const socket = `${dir}/vhost.sock`;
  const backend = Deno.listen({ transport: "unix", path: socket });
  const network = parseNetwork({ type: "vhost-user", socket, queues: 2 }, field);
  const steps = networkPlan(network, "net0", {
    arch: archProfile("x86_64"),
    machine: "q35",
    transport: "pci",
    runtimeDir: dir,
    sharedMemory: true,
  });
  const qemu = new Deno.Command("qemu-system-x86_64", {
    args: [
      "-M",
      "q35,memory-backend=mem",
      "-object",
      '{"qom-type":"memory-backend-memfd","id":"mem","size":134217728,"share":true}',
      "-m",
      "128M",
      "-display",
      "none",
      "-nodefaults",
      "-S",
      ...planArgv(steps),
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const conn = await backend.accept();
    try {
      // A vhost-user message header: request, flags, size, all u32 little-endian. The first
      // request is VHOST_USER_GET_FEATURES (1), version 1 in the flags.
      const header = new Uint8Array(12);
      let read = 0;
      while (read < 12) {
        const n = await conn.read(header.subarray(read));
        assert.ok(n !== null, "QEMU closed the socket");
        read += n;
      }
      const view = new DataView(header.buffer);
      assert.equal(view.getUint32(0, true), 1);
      assert.equal(view.getUint32(4, true) & 3, 1);
    } finally {
      conn.close();
    }
  } finally {
    qemu.kill("SIGKILL");
    await qemu.output();
    backend.close();
    await Deno.remove(dir, { recursive: true });
  }
});
