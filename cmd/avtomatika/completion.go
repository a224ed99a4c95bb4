package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// runCompletion prints a completion script for bash, zsh or fish. It
// completes commands, job subcommands and each one's flags, and leaves
// other arguments to the shell's file completion.
//
//	source <(avtomatika completion bash)           # ~/.bashrc
//	source <(avtomatika completion zsh)            # ~/.zshrc, after compinit
//	avtomatika completion fish | source            # ~/.config/fish/config.fish
func runCompletion(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const use = "usage: avtomatika completion bash|zsh|fish"
	if len(args) != 1 {
		fmt.Fprintln(stderr, use)
		return exitUsage
	}
	t := completionTree(ctx)
	switch args[0] {
	case "bash":
		io.WriteString(stdout, bashCompletion(t))
	case "zsh":
		io.WriteString(stdout, zshCompletion(t))
	case "fish":
		io.WriteString(stdout, fishCompletion(t))
	case "-h", "--help":
		fmt.Fprintln(stderr, use)
		return exitOK
	default:
		fmt.Fprintf(stderr, "avtomatika completion: unknown shell %q: want bash, zsh or fish\n", args[0])
		return exitUsage
	}
	return exitOK
}

// compNode is a command (or job subcommand) as completion sees it.
type compNode struct {
	name, summary string
	flags         []string   // without dashes, sorted
	words         []string   // fixed first arguments (completion's shells)
	subs          []compNode // job's subcommands
}

var flagLine = regexp.MustCompile(`(?m)^\s+-([A-Za-z0-9][A-Za-z0-9_-]*)`)

// flagsOf reads the flags a command lists in its -h output, so the
// scripts follow the commands' own definitions.
func flagsOf(ctx context.Context, args ...string) []string {
	var out bytes.Buffer
	run(ctx, append(args, "-h"), strings.NewReader(""), &out, &out)
	var flags []string
	for _, m := range flagLine.FindAllStringSubmatch(out.String(), -1) {
		if !slices.Contains(flags, m[1]) {
			flags = append(flags, m[1])
		}
	}
	slices.Sort(flags)
	return flags
}

func completionTree(ctx context.Context) []compNode {
	var t []compNode
	for _, c := range commands() {
		n := compNode{name: c.name, summary: c.summary}
		switch c.name {
		case "version":
		case "completion":
			n.words = []string{"bash", "fish", "zsh"}
		case "schedule":
			n.words = []string{"ls", "pause", "resume"}
		case "job":
			for _, j := range jobCommands() {
				n.subs = append(n.subs, compNode{name: j.name, summary: j.summary, flags: flagsOf(ctx, "job", j.name)})
			}
		default:
			n.flags = flagsOf(ctx, c.name)
		}
		t = append(t, n)
	}
	return t
}

func dashed(flags []string) string {
	var b []string
	for _, f := range flags {
		b = append(b, "--"+f)
	}
	return strings.Join(b, " ")
}

func names(ns []compNode) string {
	var b []string
	for _, n := range ns {
		b = append(b, n.name)
	}
	return strings.Join(b, " ")
}

func bashCompletion(t []compNode) string {
	var b strings.Builder
	b.WriteString(`# bash completion for avtomatika: source <(avtomatika completion bash)
_avtomatika() {
    local cur=${COMP_WORDS[COMP_CWORD]} words=""
    COMPREPLY=()
    if [[ $COMP_CWORD -eq 1 ]]; then
        words="` + names(t) + ` --help --version"
    else
        case ${COMP_WORDS[1]} in
`)
	for _, n := range t {
		fmt.Fprintf(&b, "        %s)\n", n.name)
		switch {
		case len(n.subs) > 0:
			fmt.Fprintf(&b, "            if [[ $COMP_CWORD -eq 2 ]]; then words=%q\n", names(n.subs))
			b.WriteString("            else case ${COMP_WORDS[2]} in\n")
			for _, s := range n.subs {
				fmt.Fprintf(&b, "                %s) [[ $cur == -* ]] && words=%q ;;\n", s.name, dashed(s.flags))
			}
			b.WriteString("            esac; fi ;;\n")
		case len(n.words) > 0:
			fmt.Fprintf(&b, "            [[ $COMP_CWORD -eq 2 ]] && words=%q ;;\n", strings.Join(n.words, " "))
		default:
			fmt.Fprintf(&b, "            [[ $cur == -* ]] && words=%q ;;\n", dashed(n.flags))
		}
	}
	b.WriteString(`        esac
    fi
    if [[ -n $words ]]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    fi
}
complete -o default -F _avtomatika avtomatika
`)
	return b.String()
}

func zshCompletion(t []compNode) string {
	var b strings.Builder
	b.WriteString(`#compdef avtomatika
# zsh completion for avtomatika: source <(avtomatika completion zsh) after
# compinit, or save as _avtomatika in a folder of $fpath.
_avtomatika() {
    if (( CURRENT == 2 )); then
        local -a cmds
        cmds=(
`)
	for _, n := range t {
		fmt.Fprintf(&b, "            %s\n", zshQuote(n.name+":"+n.summary))
	}
	b.WriteString(`        )
        _describe command cmds
        return
    fi
    case $words[2] in
`)
	for _, n := range t {
		fmt.Fprintf(&b, "    %s)\n", n.name)
		switch {
		case len(n.subs) > 0:
			b.WriteString("        if (( CURRENT == 3 )); then\n            local -a subs\n            subs=(\n")
			for _, s := range n.subs {
				fmt.Fprintf(&b, "                %s\n", zshQuote(s.name+":"+s.summary))
			}
			b.WriteString("            )\n            _describe 'job command' subs\n            return\n        fi\n        case $words[3] in\n")
			for _, s := range n.subs {
				fmt.Fprintf(&b, "        %s) [[ $PREFIX == -* ]] && compadd -- %s ;;\n", s.name, dashed(s.flags))
			}
			b.WriteString("        esac ;;\n")
		case len(n.words) > 0:
			fmt.Fprintf(&b, "        (( CURRENT == 3 )) && compadd -- %s ;;\n", strings.Join(n.words, " "))
		default:
			fmt.Fprintf(&b, "        if [[ $PREFIX == -* ]]; then compadd -- %s; else _files; fi ;;\n", dashed(n.flags))
		}
	}
	b.WriteString(`    esac
}
if [[ $funcstack[1] == _avtomatika ]]; then
    _avtomatika "$@"
else
    compdef _avtomatika avtomatika
fi
`)
	return b.String()
}

func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fishCompletion(t []compNode) string {
	var b strings.Builder
	b.WriteString("# fish completion for avtomatika: avtomatika completion fish | source\n")
	b.WriteString("complete -c avtomatika -f\n")
	b.WriteString("complete -c avtomatika -n __fish_use_subcommand -l version -d 'print the version'\n")
	for _, n := range t {
		fmt.Fprintf(&b, "complete -c avtomatika -n __fish_use_subcommand -a %s -d %s\n", n.name, zshQuote(n.summary))
	}
	for _, n := range t {
		on := "'__fish_seen_subcommand_from " + n.name
		switch {
		case len(n.subs) > 0:
			none := on + "; and not __fish_seen_subcommand_from " + names(n.subs) + "'"
			for _, s := range n.subs {
				fmt.Fprintf(&b, "complete -c avtomatika -n %s -a %s -d %s\n", none, s.name, zshQuote(s.summary))
			}
			for _, s := range n.subs {
				for _, f := range s.flags {
					fmt.Fprintf(&b, "complete -c avtomatika -n %s -l %s\n", on+"; and __fish_seen_subcommand_from "+s.name+"'", f)
				}
			}
		case len(n.words) > 0:
			fmt.Fprintf(&b, "complete -c avtomatika -n %s -a %s\n", on+"'", zshQuote(strings.Join(n.words, " ")))
		default:
			fmt.Fprintf(&b, "complete -c avtomatika -n %s -F\n", on+"'")
			for _, f := range n.flags {
				fmt.Fprintf(&b, "complete -c avtomatika -n %s -l %s\n", on+"'", f)
			}
		}
	}
	return b.String()
}
