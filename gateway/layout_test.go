package gateway_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestPartsStayApart keeps the layering of the gateway's parts: the server
// API, the management API, the connection node and the client file routes
// import none of each other nor package gateway (which assembles them),
// and share only gateway/internal/httpx; the users and files services
// import nothing of the gateway.
func TestPartsStayApart(t *testing.T) {
	const mod = "github.com/magpie-im/magpie/"
	allowed := map[string][]string{
		"api":            {"gateway/internal/httpx"},
		"manage":         {"gateway/internal/httpx"},
		"node":           {"gateway/internal/httpx"},
		"filehttp":       {"gateway/internal/httpx"},
		"internal/httpx": nil,
		"../users":       nil,
		"../files":       nil,
	}
	for dir, ok := range allowed {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range file.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				rel, ours := strings.CutPrefix(path, mod)
				if ours && (rel == "gateway" || strings.HasPrefix(rel, "gateway/")) && !slices.Contains(ok, rel) {
					t.Errorf("%s imports %s; the gateway's parts may share only %v", f, path, ok)
				}
			}
		}
	}
}
