package keyword

import (
	"testing"
	"unicode"
)

// TestFoldRuneStable checks, for every rune, that folding is idempotent and
// that case variants in one simple-folding orbit fold alike.
func TestFoldRuneStable(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		f := foldRune(r)
		if g := foldRune(f); g != f {
			t.Errorf("foldRune(%U) = %U, but foldRune(%U) = %U", r, f, f, g)
		}
		if c := unicode.SimpleFold(r); foldRune(c) != f {
			t.Errorf("foldRune(%U) = %U, but foldRune(%U) = %U for its case variant", r, f, c, foldRune(c))
		}
	}
}
