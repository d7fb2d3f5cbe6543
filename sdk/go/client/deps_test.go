package client

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDeps keeps the client SDK embeddable in apps: besides the standard
// library it may import only the WebSocket library, protobuf and the
// protocol packages of the SDK, and never the server's internal packages.
func TestDeps(t *testing.T) {
	allowed := func(path string) bool {
		first, _, _ := strings.Cut(path, "/")
		return !strings.Contains(first, ".") ||
			path == "github.com/coder/websocket" ||
			strings.HasPrefix(path, "google.golang.org/protobuf/") ||
			path == "github.com/magpie-im/magpie/sdk/go/wire" ||
			path == "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	}
	files, err := filepath.Glob("*.go")
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
				t.Errorf("%s imports %s; the client SDK may import only the standard library, coder/websocket, protobuf and the SDK's protocol packages", file, path)
			}
		}
	}
}
