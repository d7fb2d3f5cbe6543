package deploy

import (
	"strings"
	"time"
)

// contract lists the flags of each magpie command that the deployment files
// may use: the interface agreed for cluster mode. Each flag can also be set
// with its environment variable, MAGPIE_<FLAG> (see envFlag).
// TestFlagsInBinary (build tag deploycheck) checks it against the binary.
var contract = map[string][]string{
	"migrate":   {"mongo-url", "mongo-db"},
	"bootstrap": {"mongo-url", "mongo-db", "master-key-file", "url"},
	"gateway": {
		"addr", "mongo-url", "mongo-db", "amqp-url", "amqp-prefix", "redis-url", "redis-prefix",
		"node-id", "master-key-file", "trusted-proxies", "shutdown-timeout", "log-level", "admin-addr",
		"otlp-endpoint", "files-dir", "public-url", "max-upload-bytes",
	},
	"worker": {
		"addr", "mongo-url", "mongo-db", "amqp-url", "amqp-prefix",
		"master-key-file", "shutdown-timeout", "log-level", "admin-addr", "otlp-endpoint",
	},
}

// runtimeEnv are the environment variables besides MAGPIE_* that a magpie
// container may set: the Go runtime's.
var runtimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true}

// hasFlag reports whether command cmd has the flag name.
func hasFlag(cmd, name string) bool {
	for _, f := range contract[cmd] {
		if f == name {
			return true
		}
	}
	return false
}

// envFlag returns the flag an environment variable sets ("MAGPIE_MONGO_URL"
// sets "mongo-url"), or "" for a variable that sets no flag.
func envFlag(env string) string {
	name, ok := strings.CutPrefix(env, "MAGPIE_")
	if !ok {
		return ""
	}
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// checkCommand returns the problems of a magpie command line and
// environment: flags or MAGPIE_* variables the command does not have, or
// other variables that are not the Go runtime's.
func checkCommand(args []string, env map[string]string) []string {
	if len(args) == 0 {
		return []string{"no command: the image's entrypoint is /magpie, args must name a command"}
	}
	cmd := args[0]
	if _, ok := contract[cmd]; !ok {
		return []string{"unknown command " + cmd}
	}
	var bad []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			bad = append(bad, "stray argument "+a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !hasFlag(cmd, name) {
			bad = append(bad, cmd+" has no flag --"+name)
			continue
		}
		if !hasValue {
			i++ // the value is the next argument
		}
	}
	for k := range env {
		if f := envFlag(k); f != "" {
			if !hasFlag(cmd, f) {
				bad = append(bad, cmd+" has no flag --"+f+" (set by "+k+")")
			}
		} else if !runtimeEnv[k] {
			bad = append(bad, "unexpected environment variable "+k)
		}
	}
	return bad
}

// flagValue returns the value a command line or environment gives a flag,
// the command line winning, as in magpie.
func flagValue(args []string, env map[string]string, name string) (string, bool) {
	for i := 1; i < len(args); i++ {
		n, v, ok := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if n != name {
			continue
		}
		if ok {
			return v, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
	}
	v, ok := env["MAGPIE_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))]
	return v, ok
}

// shutdownTimeout returns the --shutdown-timeout a command line and
// environment give, or its default of 10 s.
func shutdownTimeout(args []string, env map[string]string) (time.Duration, error) {
	v, ok := flagValue(args, env, "shutdown-timeout")
	if !ok {
		return 10 * time.Second, nil
	}
	return time.ParseDuration(v)
}
