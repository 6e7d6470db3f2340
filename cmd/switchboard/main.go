// Command switchboard runs the Switchboard real-time messaging server.
//
//	switchboard [serve] [--config FILE] [--host HOST] [--port PORT]
//	switchboard migrate [--config FILE]
//	switchboard version        (or --version)
//	switchboard help [COMMAND] (or --help)
//
// Settings come from, highest first: flags, environment (SWITCHBOARD_HOST,
// SWITCHBOARD_PORT, SWITCHBOARD_REDIS_URL), the config file, defaults. The file is --config, else
// SWITCHBOARD_CONFIG, else ./websockets.conf when it exists; with none of
// them every key has its default.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// env is what a command may use of the process, so that tests can run
// commands in-process.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// command is one subcommand. run gets the arguments after the command's
// name; it returns flag.ErrHelp after printing help, a usageError for bad
// arguments, or any other error to fail.
type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is the table of subcommands, filled in by init (a plain
// initializer would be a cycle: help lists the commands).
var commands map[string]command

func init() {
	// To add a command (such as bench), write its run function in a file of
	// its own and add a line here.
	commands = map[string]command{
		"serve":   {"run the server (the default command)", serve},
		"version": {"print the version", version},
		"bench":   {"run a load-generator scenario against a server on this machine", bench},
		"migrate": {"create or upgrade the PostgreSQL app store's table (pusher.app_store)", migrate},
	}
}

// defaultCommand runs when the first argument is not a command name.
const defaultCommand = "serve"

// usageError is a bad command line; it exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr}
	name, rest := defaultCommand, args
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || args[0] == "--version" || args[0] == "-version") {
		name, rest = args[0], args[1:]
	}
	switch name {
	case "help":
		// "help" is "--help": the usage with serve's flags, or with the
		// flags of the command named after it.
		name, rest = defaultCommand, []string{"--help"}
		if len(args) > 1 {
			name = args[1]
		}
	case "--version", "-version":
		name, rest = "version", nil
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n", name)
		printUsage(stderr, nil)
		return 2
	}
	err := cmd.run(ctx, e, rest)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "switchboard %s: %s\nRun 'switchboard %s --help' for usage.\n", name, ue.msg, name)
		return 2
	default:
		fmt.Fprintf(stderr, "switchboard: %s\n", strings.Join(errorLines(err), "\n  "))
		return 1
	}
}

// errorLines flattens errors joined with errors.Join, one line each.
func errorLines(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// printUsage writes the overall usage, and fs's flags when fs is not nil.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, "Switchboard is a real-time messaging server.\n\nUsage:\n  switchboard [command] [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "  %-10s %s\n", "help", "print this help; help COMMAND prints the command's flags")
	fmt.Fprintf(w, "\n  --version  print the version, as the version command does\n")
	if fs != nil {
		fmt.Fprintf(w, "\nFlags of %s:\n", fs.Name())
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// parseFlags parses args into fs, printing help to e.stdout on -h/--help.
func parseFlags(fs *flag.FlagSet, e *env, args []string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(e.stdout, fs)
		return err
	case err != nil:
		return usageError{err.Error()}
	case fs.NArg() > 0:
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
