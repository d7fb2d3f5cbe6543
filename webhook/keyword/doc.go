// Package keyword owns an app's built-in keyword filter: the word and phrase
// rules that run on every message before it is sequenced, refusing it
// ([Block]) or replacing the matched characters with '*' ([Mask]).
//
// [Compile] validates an app's rules once and builds an Aho–Corasick
// automaton over normalised runes; [Filter.Apply] then checks a message in
// time linear in its length, whatever the number of rules (at most
// [MaxRules]). A message that matches nothing is returned as the same string
// without allocating.
//
// # Matching
//
// Text and words are compared after [Normalize], which maps each rune to one
// rune: full-width ASCII (U+FF01–U+FF5E) and the ideographic space become
// ASCII, and letters are case-folded with Unicode simple case folding (so
// "BAD", "Bad" and "ＢＡＤ" all match "bad", and "Σ", "σ" and "ς" are one
// letter). Turkish dotted capital I (U+0130) and dotless i (U+0131) both
// fold to "i", which simple folding alone leaves apart, so that the Turkish
// spellings of a Latin word do not slip through.
//
// Matching is by substring, with no notion of word boundaries, as the
// moderation vendors do: a rule "ass" matches inside "class". This is what
// Chinese, Japanese and other text without spaces needs ("坏词" matches in
// "这是坏词啊"); for Latin words it is the app's choice of words that limits
// false positives. Because normalisation is rune for rune, a match maps back
// to exactly the runes of the original text, and masking replaces each of
// them, whatever its case, width or encoded length, with one '*'.
//
// Invalid UTF-8 in a message is read as one U+FFFD per bad byte, never a
// panic; masked text keeps the bad bytes it does not mask.
//
// # Concurrency
//
// A *Filter is immutable once [Compile] returns it and is safe for
// concurrent use by any number of goroutines. Replacing an app's rules means
// compiling a new Filter and swapping the pointer (for example with an
// atomic.Pointer); a nil *Filter matches nothing.
package keyword
