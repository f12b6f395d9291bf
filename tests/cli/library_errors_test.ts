import assert from "node:assert/strict";
import { cliWords } from "../../lib/cli/_library_errors.ts";
import { silentConsoleCause } from "../../lib/vm/_silent_console.ts";
import { archProfile } from "../../mod.ts";

Deno.test("cliWords turns the library's advice into a definition's fields", () => {
  assert.equal(
    cliWords("Cannot wait for ssh: add .ssh() (ssh: true in a definition)"),
    "Cannot wait for ssh: add ssh: true to its definition",
  );
  // What a silent console's note advises, as a `vmkit run` user reads it.
  const seabios = silentConsoleCause(["-drive", "file=d.img"], archProfile("x86_64"))!;
  assert.match(cliWords(seabios), /a UEFI-only disk needs firmware: uefi$/);
  assert.doesNotMatch(cliWords(seabios), /\.firmware\(/);
});
