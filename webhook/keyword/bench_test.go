package keyword_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/webhook/keyword"
)

// benchText is a 100-byte message, Latin and CJK, that matches no bench rule.
const benchText = "Hey team, the release notes are ready for review 请查看发布说明 — ping me!! Thanks a lot :)"

// benchRules returns n distinct rules, a tenth of them block, Latin and CJK
// words of 3 to 8 runes, none of which occurs in benchText.
func benchRules(n int) []keyword.Rule {
	rng := rand.New(rand.NewPCG(1, 2))
	norm := keyword.Normalize(benchText)
	seen := make(map[string]bool, n)
	rules := make([]keyword.Rule, 0, n)
	for len(rules) < n {
		var b strings.Builder
		for range 3 + rng.IntN(6) {
			if len(rules)%2 == 0 {
				b.WriteRune(rune('a' + rng.IntN(26)))
			} else {
				b.WriteRune(rune(0x4E00 + rng.IntN(3000)))
			}
		}
		w := b.String()
		if seen[w] || strings.Contains(norm, w) {
			continue
		}
		seen[w] = true
		a := keyword.Mask
		if len(rules)%10 == 0 {
			a = keyword.Block
		}
		rules = append(rules, keyword.Rule{Word: w, Action: a})
	}
	return rules
}

func BenchmarkApply(b *testing.B) {
	if len(benchText) != 100 {
		b.Fatalf("len(benchText) = %d, want 100", len(benchText))
	}
	for _, n := range []int{10, 1000, 10000} {
		f := mustCompile(b, benchRules(n))
		if got := f.Apply(benchText); got.Blocked || got.Masked != 0 {
			b.Fatalf("Apply(benchText) = %+v, want no match", got)
		}
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(benchText)))
			for b.Loop() {
				f.Apply(benchText)
			}
		})
	}
}

// BenchmarkApplyMask measures the masking path: one mask match in the
// 100-byte message.
func BenchmarkApplyMask(b *testing.B) {
	rules := append(benchRules(1000), keyword.Rule{Word: "release", Action: keyword.Mask})
	f := mustCompile(b, rules)
	if got := f.Apply(benchText); got.Masked != 1 {
		b.Fatalf("Apply(benchText) = %+v, want one mask", got)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		f.Apply(benchText)
	}
}

func BenchmarkCompile(b *testing.B) {
	rules := benchRules(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keyword.Compile(rules); err != nil {
			b.Fatal(err)
		}
	}
}
