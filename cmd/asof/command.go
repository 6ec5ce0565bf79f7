package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
)

// Exit codes shared by every command.
const (
	exitOK       = 0 // done, nothing found
	exitFindings = 1 // done, and something was found (verify, audit)
	exitUsage    = 2 // bad usage or an I/O error
)

// env is what a command runs with: its arguments and injected streams, so
// that tests run commands in process.
type env struct {
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand of asof. Each lives in its own file and
// registers itself in an init function.
type command struct {
	name    string
	summary string // one line for "asof help"
	usage   string // the argument synopsis, such as "--data DIR [--json]"
	run     func(e *env) int
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("asof: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// usageError is returned by flag parsing and argument checks; it makes a
// command print its usage and exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run dispatches to a command and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fmt.Fprintf(stdout, "usage: asof %s %s\n\n%s\n", c.name, c.usage, c.summary)
				return exitOK
			}
		}
		printHelp(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "asof: unknown command %q\n\n", args[0])
		printHelp(stderr)
		return exitUsage
	}
	return c.run(&env{args: args[1:], stdin: stdin, stdout: stdout, stderr: stderr})
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "asof keeps every event and every served feature vector in a ledger,")
	fmt.Fprintln(w,
		"replays vectors as of any instant and explains where online and batch disagree.")
	fmt.Fprintln(w, "\nusage: asof COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun \"asof help COMMAND\" or \"asof COMMAND -h\" for a command's flags.")
}

// newFlags returns a flag set for c that writes its usage to e.stderr.
func newFlags(e *env, c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("asof "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: asof %s %s\n\n%s\n\nflags:\n", c.name, c.usage, c.summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses e.args into fs; it returns the exit code to use when
// parsing ended the command (help asked for, or bad flags), or -1 to go on.
// Positional arguments are refused unless positional is true.
func parseFlags(e *env, fs *flag.FlagSet, positional bool) int {
	err := fs.Parse(e.args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 && !positional {
		fmt.Fprintf(e.stderr, "asof: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	return -1
}

// fail prints err for a command and returns the exit code for it: usage
// errors print the usage too.
func fail(e *env, fs *flag.FlagSet, err error) int {
	fmt.Fprintf(e.stderr, "asof: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) && fs != nil {
		fs.Usage()
	}
	return exitUsage
}
