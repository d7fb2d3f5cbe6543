package keyword

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Action is what happens to a message that contains a rule's word.
type Action string

// The actions a rule may have.
const (
	// Block refuses the whole message.
	Block Action = "block"
	// Mask replaces each matched character with '*'.
	Mask Action = "mask"
)

// Limits on the rules [Compile] accepts.
const (
	// MaxRules is the most rules an app may have.
	MaxRules = 10000
	// MaxWordRunes is the longest word, in runes after trimming.
	MaxWordRunes = 64
)

// Reasons a rule is refused, wrapped in a [*RuleError].
var (
	ErrEmptyWord     = errors.New("empty word")
	ErrWordTooLong   = fmt.Errorf("word longer than %d runes", MaxWordRunes)
	ErrInvalidUTF8   = errors.New("word is not valid UTF-8")
	ErrUnknownAction = errors.New("unknown action")
	ErrTooManyRules  = fmt.Errorf("more than %d rules", MaxRules)
	ErrConflict      = errors.New("same word as an earlier rule with a different action")
)

// Rule is one word or phrase and the action taken on messages containing it.
// Word is trimmed of surrounding white space and compared after [Normalize].
type Rule struct {
	Word   string
	Action Action
}

// RuleError reports why [Compile] refused a rule set.
type RuleError struct {
	// Index is the position of the offending rule in the slice given to
	// Compile; for ErrTooManyRules it is MaxRules, the first rule too many.
	Index int
	// Err is one of the Err* reasons of this package.
	Err error
	// Detail adds context, such as the action or the earlier rule's index;
	// it may be empty.
	Detail string
}

func (e *RuleError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("keyword rule %d: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("keyword rule %d: %v (%s)", e.Index, e.Err, e.Detail)
}

// Unwrap returns the reason, so errors.Is(err, ErrConflict) works.
func (e *RuleError) Unwrap() error { return e.Err }

// Compile validates rules and builds a [Filter]. It fails with a [*RuleError]
// for the first rule that has an empty word after trimming, a word longer
// than [MaxWordRunes] runes or not valid UTF-8, an action other than [Block]
// or [Mask], or the same normalised word as an earlier rule with a different
// action, or when there are more than [MaxRules] rules. Repeating a word with
// the same action is allowed and has no effect.
func Compile(rules []Rule) (*Filter, error) {
	if len(rules) > MaxRules {
		return nil, &RuleError{Index: MaxRules, Err: ErrTooManyRules}
	}
	b := newBuilder()
	seen := make(map[string]int, len(rules)) // normalised word → rule index
	for i, r := range rules {
		if !utf8.ValidString(r.Word) {
			return nil, &RuleError{Index: i, Err: ErrInvalidUTF8}
		}
		w := strings.TrimSpace(r.Word)
		switch n := utf8.RuneCountInString(w); {
		case n == 0:
			return nil, &RuleError{Index: i, Err: ErrEmptyWord}
		case n > MaxWordRunes:
			return nil, &RuleError{Index: i, Err: ErrWordTooLong, Detail: fmt.Sprintf("%d runes", n)}
		}
		if r.Action != Block && r.Action != Mask {
			return nil, &RuleError{Index: i, Err: ErrUnknownAction, Detail: fmt.Sprintf("%q", r.Action)}
		}
		norm := Normalize(w)
		if j, ok := seen[norm]; ok {
			if rules[j].Action != r.Action {
				return nil, &RuleError{Index: i, Err: ErrConflict, Detail: fmt.Sprintf("rule %d", j)}
			}
			continue
		}
		seen[norm] = i
		b.add(norm, w, r.Action)
	}
	return b.build(), nil
}

// Result is the outcome of [Filter.Apply].
type Result struct {
	// Blocked is true if a block rule matched; the message must be refused.
	Blocked bool
	// Word is the blocking rule's word (as given, trimmed) when Blocked.
	Word string
	// Text is the message to deliver when not Blocked: the input with every
	// mask-rule match replaced by one '*' per rune, or the input string
	// itself if nothing was masked. It is empty when Blocked.
	Text string
	// Masked is the number of mask-rule matches, counting overlapping and
	// nested ones ("ab" and "abc" in "abc" are two).
	Masked int
}
