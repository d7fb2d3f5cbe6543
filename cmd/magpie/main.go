// Command magpie is the one Magpie binary. Its subcommands wire the
// components together: dev runs everything in one process (embedded mode);
// gateway and worker are the processes of cluster mode, prepared by migrate
// and bootstrap; probe runs a synthetic end-to-end check against a running
// installation.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run Magpie in embedded mode: one process, SQLite, no external services", runDev},
		{"probe", "check a running installation end to end with two synthetic users", runProbe},
		{"bench", "generate load against a running installation and measure it (one-to-one, group, idle, ramp)", runBench},
		{"gateway", "run a cluster-mode gateway node (API, console, WebSocket) on MongoDB, RabbitMQ, Redis", runGateway},
		{"worker", "run a cluster-mode worker (durable jobs, maintenance) on MongoDB and RabbitMQ", runWorker},
		{"migrate", "create or check the cluster store's collections and indexes (MongoDB)", runMigrate},
		{"bootstrap", "create the operator, a tenant and an app in the cluster store; print credentials", runBootstrap},
		{"version", "print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			_, err := fmt.Fprintln(stdout, "magpie", version)
			return err
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "magpie:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		args = []string{"dev"}
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", name)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: magpie <command> [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w, "\nWith no command, magpie runs dev. Every flag can also be set with an environment")
	fmt.Fprintln(w, "variable: --addr is MAGPIE_ADDR. Flags override the environment.")
	fmt.Fprintln(w, "Run 'magpie <command> --help' for a command's flags.")
}

// parseFlags parses args into fs after applying MAGPIE_* environment
// variables, so that the order of precedence is default, environment, flag.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "MAGPIE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	return fs.Parse(args)
}

// newFlagSet returns a flag set whose usage lists flags with their
// environment variables.
func newFlagSet(name, synopsis string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: magpie %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		var lines []string
		fs.VisitAll(func(f *flag.Flag) {
			env := "MAGPIE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
			lines = append(lines, fmt.Sprintf("  --%s  [$%s]\n      %s%s", f.Name, env, f.Usage, def))
		})
		sort.Strings(lines)
		fmt.Fprintln(out, strings.Join(lines, "\n"))
	}
	return fs
}
