// Shell completion scripts written from the commander program itself: every command, option and
// argument as commander has them, so no word list is kept by hand. An argument named `name` or
// `instance` completes instance names by running `vmkit list --quiet` when Tab is pressed; a
// fixed set of values comes from commander's `.choices()`; the few values commander cannot carry
// (a flag with its own parser, an open set, a snapshot tag) are in COMPLETE_AS below.

import type { Argument, Command, Option } from "npm:commander@^14.0.3";
import { GUEST_ARCHES } from "./_flags.ts";
import { QEMU_TARGETS } from "../binfmt/targets.ts";

/** What a word completes to. */
export type CompletionKind =
  | { type: "file" }
  | { type: "dir" }
  | { type: "instance" }
  /** The snapshot tags of the instance the command's first operand names. */
  | { type: "snapshot" }
  /** A host path, or an instance's name and a colon (`NAME:`) for a path in it, as cp takes. */
  | { type: "instance-path" }
  | { type: "none" }
  | { type: "words"; words: readonly string[] };

/** An option as completion sees it. */
export interface CompletionOption {
  /** Its spellings: `-f`, `--format`. */
  names: string[];
  /** Whether a value follows it (a required value; an optional one is not completed). */
  takesValue: boolean;
  /** What the value completes to. */
  value: CompletionKind;
  /** The help text. */
  description: string;
}

/** A command as completion sees it. */
export interface CompletionNode {
  /** The words after `vmkit` that lead here: `[]`, `["img"]`, `["img", "create"]`. */
  path: string[];
  /** Its one-line description. */
  description: string;
  /** Its subcommands. */
  commands: CompletionNode[];
  /** Its options, `--help` included. */
  options: CompletionOption[];
  /** What each positional argument completes to; the last repeats when variadic. */
  args: CompletionKind[];
  /** Whether the last argument takes any number of words. */
  variadic: boolean;
}

const INSTANCE_NAMES = new Set(["name", "names", "instance", "instances"]);
const FILE_NAMES = new Set([
  "file",
  "files",
  "path",
  "base",
  "kernel",
  "pubkey",
  "image",
  "iso",
  "output",
  "source",
  "definition",
  "user-data",
  "meta-data",
]);

/** Image formats offered for a format qemu-img reads: any it knows is taken, these are common. */
const READ_FORMATS = ["qcow2", "raw", "vmdk", "vdi", "vhdx", "vpc", "qed", "parallels", "dmg"];

/**
 * What a value completes to where commander's declaration cannot say it: the flag has its own
 * parser (`--arch amd64` is taken too), the set is open (`-f`: any format qemu-img reads), or the
 * values live elsewhere (snapshot tags, instance paths). Keyed by the command's words and the
 * option's long name or the argument's name in angle brackets.
 */
const COMPLETE_AS: Readonly<Record<string, CompletionKind>> = {
  "kernel --arch": { type: "words", words: GUEST_ARCHES },
  "binfmt register --arch": { type: "words", words: QEMU_TARGETS.map((t) => t.name) },
  "binfmt check <targets>": { type: "words", words: QEMU_TARGETS.map((t) => t.name) },
  "img info --format": { type: "words", words: READ_FORMATS },
  "img convert --format": { type: "words", words: READ_FORMATS },
  "cp <source>": { type: "instance-path" },
  "cp <target>": { type: "instance-path" },
  "snapshot load <tag>": { type: "snapshot" },
  "snapshot delete <tag>": { type: "snapshot" },
};

/** The command's words after the program's name, by their own names (not aliases). */
function commandWords(command: Command): string {
  const words: string[] = [];
  for (let at: Command | null = command; at?.parent; at = at.parent) words.unshift(at.name());
  return words.join(" ");
}

function kindOf(name: string, choices: readonly string[] | undefined): CompletionKind {
  const key = name.toLowerCase().replace(/\.\.\.$/, "");
  if (choices !== undefined && choices.length > 0) return { type: "words", words: choices };
  if (INSTANCE_NAMES.has(key)) return { type: "instance" };
  if (key === "dir" || key.endsWith("-dir") || key === "directory") return { type: "dir" };
  if (FILE_NAMES.has(key) || key.endsWith("-file")) return { type: "file" };
  // Sizes, counts, commands: nothing to offer.
  return { type: "none" };
}

function optionNode(option: Option, command: string): CompletionOption {
  const names = [option.short, option.long].filter((n): n is string => n !== undefined);
  const valueName = /[<[]([^>\]]+)[>\]]/.exec(option.flags)?.[1] ?? "";
  // "yes|no" style values name their words.
  const words = option.argChoices ??
    (/^[a-z]+(\|[a-z]+)+$/i.test(valueName) ? valueName.split("|") : undefined);
  const value = !option.required && !option.optional
    ? { type: "none" } as const
    : COMPLETE_AS[`${command} ${option.long}`] ?? kindOf(valueName, words);
  return { names, takesValue: option.required, value, description: option.description };
}

function argumentKind(argument: Argument, command: string): CompletionKind {
  return COMPLETE_AS[`${command} <${argument.name()}>`] ??
    kindOf(argument.name(), argument.argChoices);
}

/**
 * The completion tree of a commander program: its visible commands, options and arguments.
 *
 * @param command The program (or a command in it).
 * @param path The words that lead to it.
 * @returns The tree.
 */
export function completionTree(command: Command, path: string[] = []): CompletionNode {
  const help = command.createHelp();
  const words = commandWords(command);
  // An alias (`ls` for `list`) is a command of its own here, with the same options.
  const commands = help.visibleCommands(command).flatMap((sub) =>
    [sub.name(), ...sub.aliases()].map((name) => completionTree(sub, [...path, name]))
  );
  // commander's own `help [command]` takes the names of the commands beside it.
  const helpNode = commands.find((node) => node.path.at(-1) === "help");
  if (helpNode !== undefined && helpNode.args.length === 1 && helpNode.commands.length === 0) {
    const names = commands.map((node) => node.path.at(-1)!).filter((name) => name !== "help");
    helpNode.args = [{ type: "words", words: names }];
  }
  const args = command.registeredArguments.map((argument) => argumentKind(argument, words));
  return {
    path,
    description: command.summary() || command.description().split(/(?<=\.)\s/)[0],
    commands,
    options: help.visibleOptions(command).map((option) => optionNode(option, words)),
    args,
    variadic: command.registeredArguments.at(-1)?.variadic ?? false,
  };
}

function allNodes(node: CompletionNode): CompletionNode[] {
  return [node, ...node.commands.flatMap(allNodes)];
}

/** A word in single quotes for sh. */
function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function bashKind(kind: CompletionKind): string {
  return kind.type === "words" ? `words:${kind.words.join(" ")}` : kind.type;
}

/**
 * The bash script: `source <(vmkit completions bash)`.
 *
 * @param tree The program's completion tree.
 * @param program The command's name (`vmkit`).
 * @returns The script.
 */
export function bashScript(tree: CompletionNode, program: string): string {
  const fn = `_${program.replace(/[^A-Za-z0-9_]/g, "_")}`;
  const nodes = allNodes(tree);
  const key = (node: CompletionNode) => shQuote(node.path.join(" "));
  const subs = nodes.filter((n) => n.commands.length > 0).map((n) =>
    `    ${key(n)}) echo ${shQuote(n.commands.map((c) => c.path.at(-1)!).join(" "))} ;;`
  );
  const opts = nodes.map((n) =>
    `    ${key(n)}) echo ${shQuote(n.options.flatMap((o) => o.names).join(" "))} ;;`
  );
  const valued = nodes.flatMap((n) =>
    n.options.filter((o) => o.takesValue).flatMap((o) =>
      o.names.map((name) =>
        `    ${shQuote(`${n.path.join(" ")}|${name}`)}) echo ${shQuote(bashKind(o.value))} ;;`
      )
    )
  );
  const args = nodes.flatMap((n) =>
    n.args.map((kind, i) =>
      `    ${shQuote(`${n.path.join(" ")}|${i}`)}) echo ${shQuote(bashKind(kind))} ;;`
    )
  );
  const variadic = nodes.filter((n) => n.variadic).map((n) =>
    `    ${key(n)}) echo ${n.args.length - 1} ;;`
  );
  return `# bash completion for ${program}; generated by \`${program} completions bash\`, which
# writes it again from the commands themselves. Use: source <(${program} completions bash)
${fn}_subcommands() {
  case "$1" in
${subs.join("\n")}
  esac
}
${fn}_options() {
  case "$1" in
${opts.join("\n")}
  esac
}
# What the value of an option completes to; nothing for an option without a value.
${fn}_option_value() {
  case "$1|$2" in
${valued.join("\n")}
  esac
}
# What positional argument N completes to.
${fn}_argument() {
  case "$1|$2" in
${args.join("\n")}
  esac
}
# The index of the last argument when it takes any number of words.
${fn}_variadic() {
  case "$1" in
${variadic.join("\n")}
  esac
}
# Completes $2 as kind $1; $3 is the command's first operand (the instance, for snapshot tags).
${fn}_complete_kind() {
  local kind=$1 cur=$2 names
  case "$kind" in
    file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
    dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
    instance) COMPREPLY=($(compgen -W "$("\${COMP_WORDS[0]}" list --quiet 2>/dev/null)" -- "$cur")) ;;
    snapshot)
      [[ -z $3 ]] && return
      names="$("\${COMP_WORDS[0]}" snapshot list "$3" 2>/dev/null | tail -n +2 | cut -d ' ' -f 1)"
      COMPREPLY=($(compgen -W "$names" -- "$cur")) ;;
    instance-path)
      # A path in the guest (NAME:PATH) is not completed; a host path or NAME: is.
      [[ $cur == *:* ]] && { COMPREPLY=(); return; }
      names="$("\${COMP_WORDS[0]}" list --quiet 2>/dev/null)"
      COMPREPLY=($(compgen -W "$names" -S : -- "$cur"))
      if ((\${#COMPREPLY[@]} == 0)); then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
      else
        COMPREPLY+=($(compgen -f -- "$cur"))
        # NAME: alone is not a whole word yet: the path follows without a space.
        ((\${#COMPREPLY[@]} == 1)) && compopt -o nospace 2>/dev/null
      fi ;;
    words:*) COMPREPLY=($(compgen -W "\${kind#words:}" -- "$cur")) ;;
    *) COMPREPLY=() ;;
  esac
}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" word value="" position=0 i dashes="" first=""
  # bash splits NAME:PATH at the colon (COMP_WORDBREAKS): after a lone colon, a path in the
  # guest is being typed, which is not completed.
  if [[ $cur == : || \${COMP_WORDS[COMP_CWORD - 1]} == : ]]; then COMPREPLY=(); return; fi
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    if [[ -n $value ]]; then value=""; continue; fi
    # The colon of NAME:PATH and the path after it belong to the word before.
    if [[ $word == : || \${COMP_WORDS[i - 1]} == : ]]; then continue; fi
    if [[ -n $dashes ]]; then position=$((position + 1)); continue; fi
    if [[ $word == -- ]]; then dashes=1; continue; fi
    if [[ $word == -* ]]; then
      [[ $word != *=* && -n "$(${fn}_option_value "$path" "$word")" ]] && value=1
      continue
    fi
    if [[ $position -eq 0 && " $(${fn}_subcommands "$path") " == *" $word "* ]]; then
      path="\${path:+$path }$word"
    else
      [[ $position -eq 0 ]] && first=$word
      position=$((position + 1))
    fi
  done
  if [[ -n $dashes ]]; then COMPREPLY=(); return; fi
  if [[ -n $value ]]; then
    ${fn}_complete_kind "$(${fn}_option_value "$path" "\${COMP_WORDS[COMP_CWORD - 1]}")" "$cur"
    return
  fi
  if [[ $cur == --*=* ]]; then
    local name="\${cur%%=*}"
    ${fn}_complete_kind "$(${fn}_option_value "$path" "$name")" "\${cur#*=}"
    local j
    for j in "\${!COMPREPLY[@]}"; do COMPREPLY[j]="$name=\${COMPREPLY[j]}"; done
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_options "$path")" -- "$cur"))
    return
  fi
  local subcommands
  subcommands="$(${fn}_subcommands "$path")"
  if [[ -n $subcommands && $position -eq 0 ]]; then
    COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
    return
  fi
  local last
  last="$(${fn}_variadic "$path")"
  [[ -n $last && $position -gt $last ]] && position=$last
  ${fn}_complete_kind "$(${fn}_argument "$path" "$position")" "$cur" "$first"
}
complete -F ${fn} ${program}
`;
}

/**
 * The zsh script: the bash script through zsh's `bashcompinit`, so both shells complete from
 * the same tables. Use: `source <(vmkit completions zsh)`.
 *
 * @param tree The program's completion tree.
 * @param program The command's name.
 * @returns The script.
 */
export function zshScript(tree: CompletionNode, program: string): string {
  return `# zsh completion for ${program}; generated by \`${program} completions zsh\`, which writes
# it again from the commands themselves. Use: source <(${program} completions zsh)
autoload -U +X compinit && { (( $+functions[compdef] )) || compinit; }
autoload -U +X bashcompinit && bashcompinit
${bashScript(tree, program).split("\n").slice(2).join("\n")}`;
}

function fishQuote(word: string): string {
  return `'${word.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

function fishValue(kind: CompletionKind, program: string): string {
  switch (kind.type) {
    case "file":
      return "-F";
    case "dir":
      return `-f -a '(__fish_complete_directories)'`;
    case "instance":
      return `-f -a '(${program} list --quiet 2>/dev/null)'`;
    case "instance-path":
      return `-F -a ${
        fishQuote(`(${program} list --quiet 2>/dev/null | string replace -r '$' :)`)
      }`;
    case "snapshot":
      return `-f -a ${
        fishQuote(
          `(${program} snapshot list (commandline -opc)[-1] 2>/dev/null | tail -n +2 | string split -f 1 ' ')`,
        )
      }`;
    case "words":
      return `-f -a ${fishQuote(kind.words.join(" "))}`;
    default:
      return "-f";
  }
}

/**
 * The fish script. Use: `vmkit completions fish | source`, or save it as
 * `~/.config/fish/completions/vmkit.fish`.
 *
 * @param tree The program's completion tree.
 * @param program The command's name.
 * @returns The script.
 */
export function fishScript(tree: CompletionNode, program: string): string {
  const id = program.replace(/[^A-Za-z0-9_]/g, "_");
  const lines = [
    `# fish completion for ${program}; generated by \`${program} completions fish\`, which writes`,
    `# it again from the commands themselves. Use: ${program} completions fish | source`,
    `set -g __${id}_commands ${
      allNodes(tree).filter((n) => n.path.length > 0).map((n) => fishQuote(n.path.join(" ")))
        .join(" ")
    }`,
    '# Whether the subcommands typed so far are exactly $argv[1] ("img create"; "" for none).',
    `function __${id}_at`,
    "    set -l words (commandline -opc)",
    "    set -e words[1]",
    "    set -l node ''",
    "    for word in $words",
    "        string match -q -- '-*' $word; and continue",
    '        set -l candidate (string trim -- "$node $word")',
    `        contains -- $candidate $__${id}_commands; or break`,
    "        set node $candidate",
    "    end",
    '    test "$node" = "$argv[1]"',
    "end",
    `complete -c ${program} -f`,
  ];
  for (const node of allNodes(tree)) {
    const at = `-n ${fishQuote(`__${id}_at ${fishQuote(node.path.join(" "))}`)}`;
    for (const sub of node.commands) {
      lines.push(
        `complete -c ${program} ${at} -f -a ${fishQuote(sub.path.at(-1)!)} -d ${
          fishQuote(sub.description)
        }`,
      );
    }
    for (const option of node.options) {
      const names = option.names.map((name) =>
        name.startsWith("--") ? `-l ${name.slice(2)}` : `-s ${name.slice(1)}`
      ).join(" ");
      const value = option.takesValue ? `-r ${fishValue(option.value, program)}` : "";
      lines.push(
        `complete -c ${program} ${at} ${names} ${value} -d ${fishQuote(option.description)}`
          .replace(/ +/g, " "),
      );
    }
    const first = node.args[0];
    if (first !== undefined && node.commands.length === 0) {
      lines.push(`complete -c ${program} ${at} ${fishValue(first, program)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
