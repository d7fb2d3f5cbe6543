package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite the seed corpus in testdata/fuzz/FuzzDecode")

const corpusDir = "testdata/fuzz/FuzzDecode"

// FuzzDecode feeds every input to both codecs. Decode must not panic, must
// fail only with its documented errors (returning a frame exactly with
// ErrEmpty and ErrUnknownField), and every frame it returns must
// re-encode and decode to an equal frame.
func FuzzDecode(f *testing.F) {
	for _, s := range samples() {
		for _, c := range codecs() {
			data, err := c.Marshal(s.frame)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{"", "{}", "null", `{"id":"1"}`, `{"ping":{}}`, `{"id":1e3}`, `{"id":"3","fooBar":{}}`, "\x0a\x00", "\x72\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range codecs() {
			fr, err := Decode(c, data, testMax)
			switch {
			case errors.Is(err, ErrEmpty), errors.Is(err, ErrUnknownField):
				if fr == nil {
					t.Fatalf("%s Decode(%q) = nil, %v; want a frame", c.Subprotocol(), data, err)
				}
				continue
			case errors.Is(err, ErrMalformed), errors.Is(err, ErrTooLarge):
				continue
			case err != nil:
				t.Fatalf("%s Decode(%q) error = %v, not a documented one", c.Subprotocol(), data, err)
			}
			out, err := c.Marshal(fr)
			if err != nil {
				t.Fatalf("%s Marshal(Decode(%q)) error = %v", c.Subprotocol(), data, err)
			}
			again, err := Decode(c, out, 0)
			if err != nil {
				t.Fatalf("%s Decode(Marshal(Decode(%q))) error = %v", c.Subprotocol(), data, err)
			}
			if !proto.Equal(fr, again) {
				t.Fatalf("%s round trip of %q: %v != %v", c.Subprotocol(), data, fr, again)
			}
		}
	})
}

// corpusName is the file name of a sample's seed in one encoding.
func corpusName(c Codec, s sample) string {
	return codecName(c) + "_" + s.name
}

// TestSeedCorpus checks that the committed seed corpus holds every body type
// in both encodings, each file decoding to its sample frame. Run with
// -update to rewrite it after changing the samples.
func TestSeedCorpus(t *testing.T) {
	for _, c := range codecs() {
		for _, s := range samples() {
			path := filepath.Join(corpusDir, corpusName(c, s))
			if *update {
				writeSeed(t, path, c, s.frame)
				continue
			}
			data, err := readSeed(path)
			if err != nil {
				t.Errorf("%v (run go test -run TestSeedCorpus -update)", err)
				continue
			}
			got, err := Decode(c, data, testMax)
			if err != nil || !proto.Equal(got, s.frame) {
				t.Errorf("Decode(%s) = %v, %v; want %v (run go test -run TestSeedCorpus -update)", path, got, err, s.frame)
			}
		}
	}
}

func writeSeed(t *testing.T, path string, c Codec, f *magpiev1.Frame) {
	t.Helper()
	data, err := c.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Binary() {
		// protojson varies its spacing from build to build; compact it so
		// that rewriting the corpus is stable.
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			t.Fatal(err)
		}
		data = buf.Bytes()
	}
	content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readSeed reads a corpus file of one []byte value, in the format of
// testdata/fuzz files.
func readSeed(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	header, value, ok := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if !ok || header != "go test fuzz v1" {
		return nil, fmt.Errorf("%s: not a fuzz corpus file", path)
	}
	quoted, okPrefix := strings.CutPrefix(value, "[]byte(")
	quoted, okSuffix := strings.CutSuffix(quoted, ")")
	if !okPrefix || !okSuffix {
		return nil, fmt.Errorf("%s: value is not a []byte", path)
	}
	s, err := strconv.Unquote(quoted)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []byte(s), nil
}
