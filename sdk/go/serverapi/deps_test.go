package serverapi

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDeps keeps the SDK packages embeddable in customer code: besides the
// standard library they may import only each other and the JWT library.
func TestDeps(t *testing.T) {
	allowed := func(path string) bool {
		first, _, _ := strings.Cut(path, "/")
		return !strings.Contains(first, ".") ||
			path == "github.com/golang-jwt/jwt/v5" ||
			path == "github.com/magpie-im/magpie/sdk/go/signing" ||
			path == "github.com/magpie-im/magpie/sdk/go/token"
	}
	for _, dir := range []string{".", "../signing", "../token"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !allowed(path) {
					t.Errorf("%s imports %s; SDK packages may import only the standard library, each other and jwt/v5", file, path)
				}
			}
		}
	}
}
