package keyword_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/magpie-im/magpie/webhook/keyword"
)

func mustCompile(t testing.TB, rules []keyword.Rule) *keyword.Filter {
	t.Helper()
	f, err := keyword.Compile(rules)
	if err != nil {
		t.Fatalf("Compile(%v) = %v", rules, err)
	}
	return f
}

func block(w string) keyword.Rule { return keyword.Rule{Word: w, Action: keyword.Block} }
func mask(w string) keyword.Rule  { return keyword.Rule{Word: w, Action: keyword.Mask} }

func TestApply(t *testing.T) {
	basic := []keyword.Rule{block("bad"), mask("darn"), mask(" 坏词 "), block("禁止")}
	nested := []keyword.Rule{mask("ab"), mask("abc"), mask("bc")}
	tests := []struct {
		name  string
		rules []keyword.Rule
		text  string
		want  keyword.Result
	}{
		{"empty text", basic, "", keyword.Result{}},
		{"no match", basic, "a clean message", keyword.Result{Text: "a clean message"}},
		{"block", basic, "this is bad", keyword.Result{Blocked: true, Word: "bad"}},
		{"block upper", basic, "THIS IS BAD", keyword.Result{Blocked: true, Word: "bad"}},
		{"block title", basic, "Bad.", keyword.Result{Blocked: true, Word: "bad"}},
		{"block full-width", basic, "ＢＡＤ", keyword.Result{Blocked: true, Word: "bad"}},
		{"block mixed width", basic, "ｂAｄ", keyword.Result{Blocked: true, Word: "bad"}},
		{"block substring no boundaries", basic, "badge", keyword.Result{Blocked: true, Word: "bad"}},
		{"block wins over earlier mask", basic, "darn, bad", keyword.Result{Blocked: true, Word: "bad"}},
		{"block CJK", basic, "请禁止吧", keyword.Result{Blocked: true, Word: "禁止"}},
		{"mask", basic, "darn it", keyword.Result{Text: "**** it", Masked: 1}},
		{"mask keeps original around", basic, "Oh DARN!", keyword.Result{Text: "Oh ****!", Masked: 1}},
		{"mask repeated", basic, "darn Darn DARN", keyword.Result{Text: "**** **** ****", Masked: 3}},
		{"mask adjacent", basic, "darndarn", keyword.Result{Text: "********", Masked: 2}},
		{"mask full-width one star per rune", basic, "ＤａＲｎ!", keyword.Result{Text: "****!", Masked: 1}},
		{"mask CJK inside text", basic, "这是坏词啊", keyword.Result{Text: "这是**啊", Masked: 1}},
		{"nested all", nested, "abc", keyword.Result{Text: "***", Masked: 3}},
		{"nested inside", nested, "xabcx", keyword.Result{Text: "x***x", Masked: 3}},
		{"overlapping merge", nested, "abbc", keyword.Result{Text: "****", Masked: 2}},
		{"overlapping separate", nested, "ab-bc", keyword.Result{Text: "**-**", Masked: 2}},
		{"self overlap", []keyword.Rule{mask("aa")}, "aaa", keyword.Result{Text: "***", Masked: 2}},
		{"fail link into longer word", []keyword.Rule{mask("abcd"), mask("bcx")}, "abcx", keyword.Result{Text: "a***", Masked: 1}},
		{"emoji", []keyword.Rule{mask("💩")}, "a💩b💩", keyword.Result{Text: "a*b*", Masked: 2}},
		{"emoji with modifier", []keyword.Rule{mask("👍🏽")}, "ok 👍🏽 👍", keyword.Result{Text: "ok ** 👍", Masked: 1}},
		{"Greek final sigma", []keyword.Rule{mask("σοφός")}, "ΣΟΦΌΣ", keyword.Result{Text: "*****", Masked: 1}},
		{"Turkish dotted capital I", []keyword.Rule{block("istanbul")}, "İSTANBUL", keyword.Result{Blocked: true, Word: "istanbul"}},
		{"Turkish dotless i", []keyword.Rule{block("istanbul")}, "ıstanbul", keyword.Result{Blocked: true, Word: "istanbul"}},
		{"Kelvin sign", []keyword.Rule{mask("ok")}, "O\u212A", keyword.Result{Text: "**", Masked: 1}},
		{"ideographic space", []keyword.Rule{mask("bad word")}, "ｂａｄ　ｗｏｒｄ", keyword.Result{Text: "********", Masked: 1}},
		{"invalid UTF-8 kept", []keyword.Rule{mask("b")}, "a\xffb", keyword.Result{Text: "a\xff*", Masked: 1}},
		{"invalid UTF-8 as U+FFFD", []keyword.Rule{mask("\uFFFD")}, "a\xff\xfeb", keyword.Result{Text: "a**b", Masked: 2}},
		{"first block in text wins", []keyword.Rule{block("xyz"), block("abc")}, "abc xyz", keyword.Result{Blocked: true, Word: "abc"}},
		{"block word as given", []keyword.Rule{block("  BaD ")}, "bad", keyword.Result{Blocked: true, Word: "BaD"}},
		{"long word", []keyword.Rule{mask(strings.Repeat("字", keyword.MaxWordRunes))}, "x" + strings.Repeat("字", keyword.MaxWordRunes+1), keyword.Result{Text: "x" + strings.Repeat("*", keyword.MaxWordRunes+1), Masked: 2}},
		{"no rules", nil, "bad", keyword.Result{Text: "bad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.rules)
			if got := f.Apply(tt.text); got != tt.want {
				t.Errorf("Apply(%q) = %+v, want %+v", tt.text, got, tt.want)
			}
		})
	}
}

func TestApplyNilFilter(t *testing.T) {
	var f *keyword.Filter
	if got, want := f.Apply("bad"), (keyword.Result{Text: "bad"}); got != want {
		t.Errorf("nil Filter: Apply(%q) = %+v, want %+v", "bad", got, want)
	}
}

// TestApplyNoMatchSameString checks that unmatched text comes back as the
// same string, without allocating.
func TestApplyNoMatchSameString(t *testing.T) {
	f := mustCompile(t, []keyword.Rule{block("bad"), mask("darn"), mask("坏词")})
	text := strings.Repeat("a clean message 一条消息 ", 4)
	got := f.Apply(text)
	if unsafe.StringData(got.Text) != unsafe.StringData(text) || got.Text != text {
		t.Errorf("Apply(%q).Text is not the input string", text)
	}
	if n := testing.AllocsPerRun(100, func() { f.Apply(text) }); n != 0 {
		t.Errorf("Apply(no match) allocates %v times, want 0", n)
	}
}

func TestApplyConcurrent(t *testing.T) {
	f := mustCompile(t, []keyword.Rule{block("bad"), mask("darn")})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if got := f.Apply("darn"); got.Text != "****" {
					t.Errorf("Apply(%q).Text = %q, want %q", "darn", got.Text, "****")
				}
			}
		})
	}
	wg.Wait()
}

func TestCompileErrors(t *testing.T) {
	many := make([]keyword.Rule, keyword.MaxRules+1)
	for i := range many {
		many[i] = mask(strings.Repeat("x", i%60+1) + string(rune('a'+i%26)) + string(rune(0x4E00+i)))
	}
	tests := []struct {
		name    string
		rules   []keyword.Rule
		wantIdx int
		wantErr error // nil: Compile succeeds
	}{
		{"empty word", []keyword.Rule{mask("")}, 0, keyword.ErrEmptyWord},
		{"blank word", []keyword.Rule{mask("ok"), block(" \t\n ")}, 1, keyword.ErrEmptyWord},
		{"too long", []keyword.Rule{mask(strings.Repeat("a", keyword.MaxWordRunes+1))}, 0, keyword.ErrWordTooLong},
		{"longest", []keyword.Rule{mask(" " + strings.Repeat("字", keyword.MaxWordRunes) + " ")}, 0, nil},
		{"invalid UTF-8", []keyword.Rule{mask("ok"), mask("ok"), block("b\xffd")}, 2, keyword.ErrInvalidUTF8},
		{"unknown action", []keyword.Rule{{Word: "bad", Action: "delete"}}, 0, keyword.ErrUnknownAction},
		{"empty action", []keyword.Rule{{Word: "bad"}}, 0, keyword.ErrUnknownAction},
		{"action case matters", []keyword.Rule{{Word: "bad", Action: "Block"}}, 0, keyword.ErrUnknownAction},
		{"too many", many, keyword.MaxRules, keyword.ErrTooManyRules},
		{"most", many[:keyword.MaxRules], 0, nil},
		{"conflict", []keyword.Rule{block("bad"), mask("x"), mask("ＢＡＤ")}, 2, keyword.ErrConflict},
		{"duplicate same action", []keyword.Rule{mask("bad"), mask("BAD"), mask(" bad ")}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := keyword.Compile(tt.rules)
			if tt.wantErr == nil {
				if err != nil || f == nil {
					t.Fatalf("Compile = %v, %v, want a Filter", f, err)
				}
				return
			}
			var re *keyword.RuleError
			if !errors.As(err, &re) || !errors.Is(err, tt.wantErr) || re.Index != tt.wantIdx {
				t.Fatalf("Compile = %v, want *RuleError{Index: %d, Err: %v}", err, tt.wantIdx, tt.wantErr)
			}
			if f != nil {
				t.Errorf("Compile returned a Filter with error %v", err)
			}
		})
	}
}

func TestRuleErrorMessage(t *testing.T) {
	_, err := keyword.Compile([]keyword.Rule{block("bad"), mask("Bad")})
	if got, want := err.Error(), "keyword rule 1: same word as an earlier rule with a different action (rule 0)"; got != want {
		t.Errorf("Compile error = %q, want %q", got, want)
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Hello, World!", "hello, world!"},
		{"ＨＥＬＬＯ，ｗｏｒｌｄ！", "hello,world!"},
		{"　", " "},
		{"ΣΟΦΌΣ σοφός", "σοφόσ σοφόσ"},
		{"İı", "ii"},
		{"坏词😀", "坏词😀"},
		{"a\xffb", "a\uFFFDb"},
		{"ǅ", "ǆ"},
	}
	for _, tt := range tests {
		if got := keyword.Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
