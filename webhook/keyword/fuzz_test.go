package keyword_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/magpie-im/magpie/webhook/keyword"
)

// fuzzRules are the fixed rules of FuzzApply; the fuzzer adds one mask word.
var fuzzRules = []keyword.Rule{
	block("bad"), block("禁止"), block("ab\uFFFD"),
	mask("darn"), mask("坏词"), mask("ab"), mask("abc"), mask("bc"), mask("aa"), mask("💩"),
}

// FuzzApply checks Apply against a naive reference matcher, that it never
// panics, that unblocked text keeps its rune count and differs from the input
// only by '*', and that masking twice changes nothing more.
func FuzzApply(f *testing.F) {
	f.Add("a clean message", "x")
	f.Add("this is BAD", "is")
	f.Add("darn abcabc aaa", "cab")
	f.Add("这是坏词啊", "是")
	f.Add("ＤＡＲＮ ｂａｄ", "ｄａ")
	f.Add("a\xff\xfeb", "\uFFFD")
	f.Add("ΣΟΦΌΣ İı", "σς")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, text, word string) {
		rules := append(slices.Clip(fuzzRules), mask(word))
		flt, err := keyword.Compile(rules)
		if err != nil {
			rules = fuzzRules
			flt = mustCompile(t, rules)
		}
		got := flt.Apply(text)
		want := naiveApply(rules, text)
		if got.Blocked != want.Blocked || got.Text != want.Text || got.Masked != want.Masked {
			t.Fatalf("Apply(%q) with %q = %+v, want %+v", text, word, got, want)
		}
		if got.Blocked {
			if !slices.ContainsFunc(rules, func(r keyword.Rule) bool {
				return r.Action == keyword.Block && r.Word == got.Word
			}) {
				t.Fatalf("Apply(%q).Word = %q, not a block word", text, got.Word)
			}
			return
		}
		if n, m := utf8.RuneCountInString(got.Text), utf8.RuneCountInString(text); n != m {
			t.Fatalf("Apply(%q).Text = %q has %d runes, want %d", text, got.Text, n, m)
		}
		for i, j := 0, 0; i < len(text); {
			_, n := utf8.DecodeRuneInString(text[i:])
			_, m := utf8.DecodeRuneInString(got.Text[j:])
			if got.Text[j:j+m] != "*" && got.Text[j:j+m] != text[i:i+n] {
				t.Fatalf("Apply(%q).Text = %q changes %q to %q", text, got.Text, text[i:i+n], got.Text[j:j+m])
			}
			i, j = i+n, j+m
		}
		if strings.Contains(keyword.Normalize(word), "*") {
			return // a word with '*' may match the stars of an earlier mask
		}
		if again := flt.Apply(got.Text); again != (keyword.Result{Text: got.Text}) {
			t.Fatalf("Apply(Apply(%q).Text = %q) = %+v, want it unchanged", text, got.Text, again)
		}
	})
}

// naiveApply is the reference: every rule checked at every position.
func naiveApply(rules []keyword.Rule, text string) keyword.Result {
	nt := []rune(keyword.Normalize(text))
	starred := make([]bool, len(nt))
	var res keyword.Result
	seen := make(map[string]bool)
	for _, r := range rules {
		norm := keyword.Normalize(strings.TrimSpace(r.Word))
		if seen[norm] {
			continue // Compile drops repeated words
		}
		seen[norm] = true
		w := []rune(norm)
		for i := 0; i+len(w) <= len(nt); i++ {
			if !slices.Equal(nt[i:i+len(w)], w) {
				continue
			}
			if r.Action == keyword.Block {
				return keyword.Result{Blocked: true}
			}
			res.Masked++
			for k := i; k < i+len(w); k++ {
				starred[k] = true
			}
		}
	}
	var b strings.Builder
	for i, k := 0, 0; i < len(text); k++ {
		_, n := utf8.DecodeRuneInString(text[i:])
		if starred[k] {
			b.WriteByte('*')
		} else {
			b.WriteString(text[i : i+n])
		}
		i += n
	}
	res.Text = b.String()
	return res
}
