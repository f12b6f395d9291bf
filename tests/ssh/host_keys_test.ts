import assert from "node:assert/strict";
import { hostKeysFromConsole, parsePublicKeyLine } from "../../lib/ssh/host_keys.ts";
import { knownHostsText, writeKnownHosts } from "../../lib/ssh/known_hosts.ts";
import { generateSshKey } from "../../lib/ssh/key.ts";

/** Two real public keys, made by ssh-keygen. */
async function twoKeys(): Promise<[string, string]> {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const a = await generateSshKey(dir, { name: "a", comment: "root@guest" });
    const b = await generateSshKey(dir, { name: "b", comment: "root@guest" });
    return [a.publicKey, b.publicKey];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("hostKeysFromConsole reads the keys of cloud-init's last block, skipping kernel lines and cut keys", async () => {
  const [a, b] = await twoKeys();
  const cut = a.slice(0, 40);
  const console = [
    "[    3.1] Run /init as init process",
    "-----BEGIN SSH HOST KEY KEYS-----",
    b,
    "-----END SSH HOST KEY KEYS-----",
    "Debian GNU/Linux 12 vmkit ttyS0",
    "<14>Jan  1 00:00:05 cloud-init: #############################################################",
    "-----BEGIN SSH HOST KEY KEYS-----",
    "[   61.234567] random: crng init done",
    cut,
    `${a}`,
    "-----END SSH HOST KEY KEYS-----",
    "-----BEGIN SSH HOST KEY KEYS-----",
    "ssh-ed25519 AAAA-unfinished",
  ].join("\r\n");
  assert.deepEqual(hostKeysFromConsole(console), [a]);
  assert.deepEqual(hostKeysFromConsole("-----BEGIN SSH HOST KEY KEYS-----\r\n" + a), []);
  assert.deepEqual(hostKeysFromConsole(""), []);
});

Deno.test("parsePublicKeyLine takes a key only when its blob names its own type", async () => {
  const [a] = await twoKeys();
  const [type, blob] = a.split(" ");
  assert.deepEqual(parsePublicKeyLine(a), { type, key: blob, comment: "root@guest" });
  assert.deepEqual(parsePublicKeyLine(`${type} ${blob}`), { type, key: blob });
  assert.equal(parsePublicKeyLine(`ssh-rsa ${blob}`), undefined, "type and blob disagree");
  assert.equal(parsePublicKeyLine(`${type} ${blob.slice(0, 20)}`), undefined);
  assert.equal(parsePublicKeyLine(`${type} not*base64`), undefined);
});

Deno.test("knownHostsText files keys under [host]:port, the bare host on port 22, or an alias", async () => {
  const [a, b] = await twoKeys();
  const bare = (key: string) => key.split(" ").slice(0, 2).join(" ");
  assert.equal(
    knownHostsText([a, b], { port: 2222 }),
    `[127.0.0.1]:2222 ${bare(a)}\n[127.0.0.1]:2222 ${bare(b)}\n`,
  );
  assert.equal(knownHostsText([a], { host: "10.0.2.15" }), `10.0.2.15 ${bare(a)}\n`);
  assert.equal(knownHostsText([a], { hostKeyAlias: "vmkit-web" }), `vmkit-web ${bare(a)}\n`);
  assert.throws(() => knownHostsText([], { port: 2222 }), /no host key given/);
  assert.throws(() => knownHostsText(["ssh-ed25519 AAAA"], {}), /key 0 "ssh-ed25519 AAAA"/);
  assert.throws(() => knownHostsText([a], { port: 0 }), RangeError);
  assert.throws(() => knownHostsText([a], { hostKeyAlias: "a b" }), TypeError);
});

Deno.test("writeKnownHosts writes a 0600 file that ssh-keygen finds the host's key in", async () => {
  const [a] = await twoKeys();
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const path = `${dir}/known_hosts`;
    await writeKnownHosts(path, [a], { port: 2222 });
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const found = await new Deno.Command("ssh-keygen", {
      args: ["-F", "[127.0.0.1]:2222", "-f", path],
      stdout: "piped",
    }).output();
    assert.ok(found.success);
    assert.match(new TextDecoder().decode(found.stdout), /ssh-ed25519/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
