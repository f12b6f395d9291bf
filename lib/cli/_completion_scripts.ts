// Shell completion scripts written from the commander program itself: every command, option and
// argument as commander has them, so no word list is kept by hand. An argument named `name` or
// `instance` completes instance names by running `vmkit list --quiet` when Tab is pressed.

import type { Argument, Command, Option } from "npm:commander@^14.0.3";

/** What a word completes to. */
export type CompletionKind =
  | { type: "file" }
  | { type: "dir" }
  | { type: "instance" }
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

function kindOf(name: string, choices: readonly string[] | undefined): CompletionKind {
  const key = name.toLowerCase().replace(/\.\.\.$/, "");
  if (choices !== undefined && choices.length > 0) return { type: "words", words: choices };
  if (INSTANCE_NAMES.has(key)) return { type: "instance" };
  if (key === "dir" || key.endsWith("-dir") || key === "directory") return { type: "dir" };
  if (FILE_NAMES.has(key) || key.endsWith("-file")) return { type: "file" };
  // Sizes, counts, commands: nothing to offer.
  return { type: "none" };
}

function optionNode(option: Option): CompletionOption {
  const names = [option.short, option.long].filter((n): n is string => n !== undefined);
  const valueName = /[<[]([^>\]]+)[>\]]/.exec(option.flags)?.[1] ?? "";
  // "yes|no" style values name their words.
  const words = option.argChoices ??
    (/^[a-z]+(\|[a-z]+)+$/i.test(valueName) ? valueName.split("|") : undefined);
  return {
    names,
    takesValue: option.required,
    value: option.required || option.optional ? kindOf(valueName, words) : { type: "none" },
    description: option.description,
  };
}

function argumentKind(argument: Argument): CompletionKind {
  return kindOf(argument.name(), argument.argChoices);
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
  // An alias (`ls` for `list`) is a command of its own here, with the same options.
  const commands = help.visibleCommands(command).flatMap((sub) =>
    [sub.name(), ...sub.aliases()].map((name) => completionTree(sub, [...path, name]))
  );
  const args = command.registeredArguments.map(argumentKind);
  return {
    path,
    description: command.summary() || command.description().split(/(?<=\.)\s/)[0],
    commands,
    options: help.visibleOptions(command).map(optionNode),
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
${fn}_complete_kind() {
  local kind=$1 cur=$2
  case "$kind" in
    file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
    dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
    instance) COMPREPLY=($(compgen -W "$("\${COMP_WORDS[0]}" list --quiet 2>/dev/null)" -- "$cur")) ;;
    words:*) COMPREPLY=($(compgen -W "\${kind#words:}" -- "$cur")) ;;
    *) COMPREPLY=() ;;
  esac
}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" word value="" position=0 i dashes=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    if [[ -n $value ]]; then value=""; continue; fi
    if [[ -n $dashes ]]; then position=$((position + 1)); continue; fi
    if [[ $word == -- ]]; then dashes=1; continue; fi
    if [[ $word == -* ]]; then
      [[ $word != *=* && -n "$(${fn}_option_value "$path" "$word")" ]] && value=1
      continue
    fi
    if [[ $position -eq 0 && " $(${fn}_subcommands "$path") " == *" $word "* ]]; then
      path="\${path:+$path }$word"
    else
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
  ${fn}_complete_kind "$(${fn}_argument "$path" "$position")" "$cur"
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
