// What the builder says when it refuses a definition's field, in the words of a definition: its
// advice names builder calls (".ssh()", ".drive(file, { format })") and its own field names
// ("cloud-init via", "network forwards[1]"), which a definition writes as fields ("ssh: true",
// "seed.via", "network.forwards[1]"). The builder's messages stay as they are for the library.

/** Builder words, and the same in a definition's. */
const DEFINITION_WORDS: readonly [RegExp, string][] = [
  [/\.ssh\(\) \(ssh: true in a definition\)/g, "ssh: true"],
  [/\.guestAgent\(\) \(agent: true in a definition\)/g, "agent: true"],
  [/\.drive\(file, \{ format: "qcow2" \}\)/g, "a qcow2 disk (disks: - size: 10G)"],
  [/\.drive\(file, \{ format: "raw" \| "qcow2" \}\)/g, "the disk's format: raw or qcow2"],
  [/\.ssh\(\{ user, identity \}\)/g, "ssh: { user, identity }"],
  [/\.ssh\(\{ user \}\)/g, "ssh.user"],
  [/\.ssh\(\)/g, "ssh: true"],
  [/\.guestAgent\(\)/g, "agent: true"],
  [/\.cloudInit\((\{ \.\.\. \})?\)/g, "a seed"],
  [/\.network\(\{ type: "user" \}\)/g, "network: user"],
  [/\{ hostPort: 0, guestPort: 22 \}/g, '"0:22"'],
  [/ to the builder\b/g, " to the definition"],
  [/\bcloud-init options\b/g, "seed"],
  [
    /\bcloud-init (userData|metaData|networkConfig|networkData|vendorData|format|via)\b/g,
    "seed.$1",
  ],
  [/\bnetwork (forwards\[\d+\]|forwards|restrict|hostname)/g, "network.$1"],
  [/\b9p device (\d+)\b/g, "shares[$1]"],
  [/\bkernel (append|initrd)\b/g, "kernel.$1"],
  [/\bset arg to\b/g, "set args to"],
];

/**
 * A builder's refusal as a definition problem's "what is wrong": builder calls and field names
 * as a definition writes them, and no capital letter, since it follows `field: `.
 *
 * @param message The builder's message (`Cannot forward host port ...`).
 * @returns The text for the problem.
 */
export function definitionWords(message: string): string {
  let text = message;
  for (const [builder, definition] of DEFINITION_WORDS) text = text.replace(builder, definition);
  return text.replace(/(^|: )Cannot\b/g, "$1cannot");
}
