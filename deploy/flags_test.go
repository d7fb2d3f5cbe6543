//go:build deploycheck

package deploy

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFlagsInBinary builds magpie and checks that each command the
// deployment files run has every flag of the contract, with its MAGPIE_*
// twin. A command not in the binary yet is reported and checked against the
// contract only (by the other tests). scripts/deploy-check.sh runs it (go
// test -tags deploycheck), after go vet has compiled the packages it needs.
func TestFlagsInBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "magpie")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/magpie-im/magpie/cmd/magpie").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+)\s+\[\$(MAGPIE_[A-Z0-9_]+)\]`)
	for cmd, flags := range contract {
		out, err := exec.Command(bin, cmd, "--help").CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "unknown command") {
				t.Logf("magpie %s is not in this binary yet; the deployment files follow the contract for it", cmd)
				continue
			}
			t.Fatalf("magpie %s --help: %v\n%s", cmd, err, out)
		}
		have := map[string]string{}
		for _, m := range line.FindAllStringSubmatch(string(out), -1) {
			have[m[1]] = m[2]
		}
		for _, f := range flags {
			env, ok := have[f]
			if !ok {
				t.Errorf("magpie %s has no --%s, which the contract promises and deploy/ may use", cmd, f)
				continue
			}
			if envFlag(env) != f {
				t.Errorf("magpie %s --%s reads %s, want MAGPIE_%s", cmd, f, env, strings.ToUpper(strings.ReplaceAll(f, "-", "_")))
			}
		}
	}
}
