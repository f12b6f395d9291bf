import assert from "node:assert/strict";
import { generateSshKey } from "../../lib/ssh/key.ts";
import { parsePublicKeyLine } from "../../lib/ssh/host_keys.ts";

Deno.test("generateSshKey makes an ed25519 pair: a 0600 private key and the public key line that ssh-keygen derives from it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const key = await generateSshKey(dir, { comment: "vmkit@test" });
    assert.equal(key.privateKey, `${dir}/id_ed25519`);
    assert.equal((await Deno.stat(key.privateKey)).mode! & 0o777, 0o600);
    assert.match(key.publicKey, /^ssh-ed25519 AAAA\S+ vmkit@test$/);
    assert.equal(parsePublicKeyLine(key.publicKey)?.type, "ssh-ed25519");
    const derived = await new Deno.Command("ssh-keygen", {
      args: ["-y", "-f", key.privateKey],
      stdout: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(derived.stdout).trim().split(" ").slice(0, 2).join(" "),
      key.publicKey.split(" ").slice(0, 2).join(" "),
    );
    const other = await generateSshKey(dir, { name: "second" });
    assert.notEqual(other.publicKey.split(" ")[1], key.publicKey.split(" ")[1], "a fresh key");
    assert.match(other.publicKey, / vmkit$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generateSshKey never replaces an existing key file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  try {
    const first = await generateSshKey(dir);
    await assert.rejects(
      () => generateSshKey(dir),
      Deno.errors.AlreadyExists,
      `Cannot generate an ssh key at "${dir}/id_ed25519": the file exists`,
    );
    assert.equal((await Deno.readTextFile(`${dir}/id_ed25519.pub`)).trim(), first.publicKey);
    await assert.rejects(() => generateSshKey(dir, { name: "../x" }), TypeError);
    // ssh-keygen would say only that saving failed.
    await assert.rejects(
      () => generateSshKey(`${dir}/keys`),
      Deno.errors.NotFound,
      `Cannot generate an ssh key in "${dir}/keys": the directory does not exist; create it first`,
    );
    await assert.rejects(
      () => generateSshKey(`${dir}/id_ed25519`),
      TypeError,
      `Cannot generate an ssh key in "${dir}/id_ed25519": it is not a directory`,
    );
    await assert.rejects(() => generateSshKey(dir, { comment: "a\nb" }), TypeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generateSshKey without ssh-keygen names the Debian package to install", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmkit-test-" });
  const path = Deno.env.get("PATH")!;
  Deno.env.set("PATH", dir);
  try {
    await assert.rejects(
      () => generateSshKey(dir),
      Deno.errors.NotFound,
      "ssh-keygen is not installed; install Debian's openssh-client",
    );
  } finally {
    Deno.env.set("PATH", path);
    await Deno.remove(dir, { recursive: true });
  }
});
