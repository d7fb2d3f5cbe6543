package gateway_test

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// openAPIPath is the API reference, relative to this package.
const openAPIPath = "../docs/openapi.yaml"

// openAPIMethods are the operation keys of an OpenAPI path item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIDoc is docs/openapi.yaml decoded into plain maps and slices.
type openAPIDoc struct {
	root map[string]any
}

// openAPIOp is one operation of the document.
type openAPIOp struct {
	method, path string // "POST", "/v1/users"
	item, op     map[string]any
}

func (o openAPIOp) String() string { return o.method + " " + o.path }

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	b, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatalf("read the API reference: %v", err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s is not valid YAML: %v", openAPIPath, err)
	}
	root, ok := asMap(v)
	if !ok {
		t.Fatalf("%s: the document is not a mapping", openAPIPath)
	}
	if ver, _ := root["openapi"].(string); !strings.HasPrefix(ver, "3.1.") {
		t.Fatalf("%s: openapi is %v, want 3.1.x", openAPIPath, root["openapi"])
	}
	return openAPIDoc{root: root}
}

// asMap returns v as a map with string keys. YAML mappings may decode with
// non-string keys (an unquoted 200), so keys are formatted.
func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

// ops returns every operation of the document, sorted by path and method.
func (d openAPIDoc) ops(t *testing.T) []openAPIOp {
	t.Helper()
	paths, ok := asMap(d.root["paths"])
	if !ok {
		t.Fatalf("%s has no paths", openAPIPath)
	}
	var out []openAPIOp
	for path, v := range paths {
		item, ok := asMap(v)
		if !ok {
			t.Errorf("%s: paths[%q] is not a mapping", openAPIPath, path)
			continue
		}
		for _, m := range openAPIMethods {
			if op, ok := asMap(item[m]); ok {
				out = append(out, openAPIOp{method: strings.ToUpper(m), path: path, item: item, op: op})
			}
		}
	}
	slices.SortFunc(out, func(a, b openAPIOp) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// resolve follows v's $ref, if it has one, within the document.
func (d openAPIDoc) resolve(v any) (map[string]any, error) {
	for range 10 {
		m, ok := asMap(v)
		if !ok {
			return nil, fmt.Errorf("not a mapping")
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, nil
		}
		if v, ok = d.pointer(ref); !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	return nil, fmt.Errorf("$ref chain too long")
}

// pointer looks up a local reference ("#/components/schemas/User").
func (d openAPIDoc) pointer(ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = d.root
	for tok := range strings.SplitSeq(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			m, ok := asMap(c)
			if !ok {
				return nil, false
			}
			if cur, ok = m[tok]; !ok {
				return nil, false
			}
		}
	}
	return cur, true
}

// TestOpenAPIDocumentsEveryRoute keeps docs/openapi.yaml and the route table
// in step: every route the gateway serves is documented with the same method
// and path, and every documented operation is served.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	e := newEnv(t)
	served := map[string]bool{}
	for _, r := range e.gw.Routes() {
		served[r.Method+" "+r.Path] = true
	}
	if len(served) == 0 {
		t.Fatal("Gateway.Routes() returned no routes")
	}
	documented := map[string]bool{}
	for _, op := range doc.ops(t) {
		documented[op.String()] = true
	}
	for _, r := range slices.Sorted(maps.Keys(served)) {
		if !documented[r] {
			method, path, _ := strings.Cut(r, " ")
			t.Errorf("route %s is served by the gateway but not documented: add paths[%q].%s to %s",
				r, path, strings.ToLower(method), openAPIPath)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(documented)) {
		if !served[op] {
			t.Errorf("%s documents %s, which the gateway does not serve (it is not in Gateway.Routes()): remove it or fix its method or path",
				openAPIPath, op)
		}
	}
}

// TestOpenAPIOperationsComplete checks every operation has a success
// response and at least one error response, that JSON error bodies use the
// shared Error schema, that every response documents X-Request-Id, and that
// the path parameters match the path template.
func TestOpenAPIOperationsComplete(t *testing.T) {
	doc := loadOpenAPI(t)
	success := []string{"101", "200", "201", "202", "204"}
	templ := regexp.MustCompile(`\{([^{}]+)\}`)
	for _, op := range doc.ops(t) {
		if id, _ := op.op["operationId"].(string); id == "" {
			t.Errorf("%s: no operationId", op)
		}
		if s, _ := op.op["summary"].(string); s == "" {
			t.Errorf("%s: no summary", op)
		}
		responses, ok := asMap(op.op["responses"])
		if !ok || len(responses) == 0 {
			t.Errorf("%s: no responses", op)
			continue
		}
		var ok2xx, okErr bool
		for status, v := range responses {
			if slices.Contains(success, status) {
				ok2xx = true
			}
			resp, err := doc.resolve(v)
			if err != nil {
				t.Errorf("%s: response %s: %v", op, status, err)
				continue
			}
			if d, _ := resp["description"].(string); d == "" {
				t.Errorf("%s: response %s has no description", op, status)
			}
			headers, _ := asMap(resp["headers"])
			if _, ok := headers["X-Request-Id"]; !ok {
				t.Errorf("%s: response %s does not document the X-Request-Id header", op, status)
			}
			if n, err := strconv.Atoi(status); (err == nil && n >= 400) || status == "4XX" || status == "5XX" {
				okErr = true
				content, _ := asMap(resp["content"])
				if media, ok := asMap(content["application/json"]); ok {
					schema, _ := asMap(media["schema"])
					if schema["$ref"] != "#/components/schemas/Error" {
						t.Errorf("%s: error response %s: JSON body schema is %v, want $ref #/components/schemas/Error", op, status, media["schema"])
					}
				}
			}
		}
		if !ok2xx {
			t.Errorf("%s: no success response (one of %v)", op, success)
		}
		if !okErr {
			t.Errorf("%s: no error response documented", op)
		}

		// Path parameters: declared on the path item or the operation,
		// each one named in the template, and every template name declared.
		declared := map[string]bool{}
		for _, params := range []any{op.item["parameters"], op.op["parameters"]} {
			list, _ := params.([]any)
			for _, p := range list {
				pm, err := doc.resolve(p)
				if err != nil {
					t.Errorf("%s: parameter: %v", op, err)
					continue
				}
				if pm["in"] == "path" {
					name, _ := pm["name"].(string)
					declared[name] = true
					if pm["required"] != true {
						t.Errorf("%s: path parameter %q is not required: true", op, name)
					}
				}
			}
		}
		inPath := map[string]bool{}
		for _, m := range templ.FindAllStringSubmatch(op.path, -1) {
			inPath[m[1]] = true
			if !declared[m[1]] {
				t.Errorf("%s: path parameter {%s} is not declared", op, m[1])
			}
		}
		for name := range declared {
			if !inPath[name] {
				t.Errorf("%s: path parameter %q is declared but not in the path", op, name)
			}
		}
	}
}

// TestOpenAPIRefsResolve checks that every $ref in the document points at
// something within it.
func TestOpenAPIRefsResolve(t *testing.T) {
	doc := loadOpenAPI(t)
	n := 0
	var walk func(where string, v any)
	walk = func(where string, v any) {
		if list, ok := v.([]any); ok {
			for i, x := range list {
				walk(where+"/"+strconv.Itoa(i), x)
			}
			return
		}
		m, ok := asMap(v)
		if !ok {
			return
		}
		for k, x := range m {
			if k == "$ref" {
				n++
				ref, _ := x.(string)
				if _, ok := doc.pointer(ref); !ok {
					t.Errorf("%s: $ref %v does not resolve within %s", where, x, openAPIPath)
				}
				continue
			}
			walk(where+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), x)
		}
	}
	walk("#", doc.root)
	if n == 0 {
		t.Fatalf("%s has no $ref at all; the walk is broken", openAPIPath)
	}
}
