package keyword

import (
	"cmp"
	"slices"
	"unicode/utf8"
)

// Filter is an app's compiled keyword rules: an Aho–Corasick automaton over
// normalised runes. It is immutable and safe for concurrent use; the zero
// value and a nil *Filter match nothing. Build one with [Compile].
type Filter struct {
	nodes []node   // nodes[0] is the root
	edges []edge   // children of node n: edges[n.first:n.last], by rune
	words []string // blocking words, as given (trimmed)
	// rootASCII[r] is the root's child for ASCII rune r (0: none), so most
	// runes of most messages take one array load.
	rootASCII [utf8.RuneSelf]int32
}

// node is a state of the automaton: the words that are a prefix of some
// rule and end at the current position of the text.
type node struct {
	first, last int32 // range of the node's edges
	fail        int32 // the longest proper suffix that is also a node
	// block is the index in Filter.words of the longest block word that is
	// a suffix of this node (itself included), or -1.
	block int32
	// maskLen is the rune length of the longest mask word that is a suffix
	// of this node, or 0; maskCount counts all of them.
	maskLen, maskCount int32
}

type edge struct {
	r    rune
	next int32
}

// builder accumulates the trie of the rules; build turns it into a Filter.
type builder struct {
	children map[uint64]int32 // node<<32 | rune → child
	nodes    []node
	words    []string
	mask     []bool // nodes that end a mask word
}

func newBuilder() *builder {
	return &builder{
		children: make(map[uint64]int32),
		nodes:    []node{{block: -1}},
		mask:     []bool{false},
	}
}

// add inserts the normalised word norm; word is the rule's word as given.
func (b *builder) add(norm, word string, a Action) {
	s := int32(0)
	for _, r := range norm {
		key := uint64(s)<<32 | uint64(r)
		c, ok := b.children[key]
		if !ok {
			c = int32(len(b.nodes))
			b.nodes = append(b.nodes, node{block: -1})
			b.mask = append(b.mask, false)
			b.children[key] = c
		}
		s = c
	}
	if a == Block {
		b.nodes[s].block = int32(len(b.words))
		b.words = append(b.words, word)
		return
	}
	b.mask[s] = true
	b.nodes[s].maskLen = int32(utf8.RuneCountInString(norm))
}

func (b *builder) build() *Filter {
	type triple struct {
		parent int32
		e      edge
	}
	all := make([]triple, 0, len(b.children))
	for k, c := range b.children {
		all = append(all, triple{int32(k >> 32), edge{rune(uint32(k)), c}})
	}
	slices.SortFunc(all, func(x, y triple) int {
		return cmp.Or(cmp.Compare(x.parent, y.parent), cmp.Compare(x.e.r, y.e.r))
	})
	f := &Filter{nodes: b.nodes, edges: make([]edge, len(all)), words: b.words}
	for i, t := range all {
		f.edges[i] = t.e
		n := &f.nodes[t.parent]
		if n.last == 0 {
			n.first = int32(i)
		}
		n.last = int32(i + 1)
		if t.parent == 0 && t.e.r < utf8.RuneSelf {
			f.rootASCII[t.e.r] = t.e.next
		}
	}
	// Breadth first, so a node's fail target (shallower) is complete first.
	queue := []int32{0}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, e := range f.edges[f.nodes[u].first:f.nodes[u].last] {
			f.link(u, e, b.mask[e.next])
			queue = append(queue, e.next)
		}
	}
	return f
}

// link sets the fail link and outputs of child e.next of u; isMask says
// whether the child itself ends a mask word.
func (f *Filter) link(u int32, e edge, isMask bool) {
	c := &f.nodes[e.next]
	if u != 0 {
		c.fail = f.step(f.nodes[u].fail, e.r)
	}
	fl := &f.nodes[c.fail]
	if c.block < 0 {
		c.block = fl.block
	}
	if isMask {
		c.maskCount = 1 + fl.maskCount
	} else {
		c.maskLen = fl.maskLen
		c.maskCount = fl.maskCount
	}
}

// step is the automaton's transition from state s on normalised rune r.
func (f *Filter) step(s int32, r rune) int32 {
	for s != 0 {
		if c, ok := f.child(s, r); ok {
			return c
		}
		s = f.nodes[s].fail
	}
	if r < utf8.RuneSelf {
		return f.rootASCII[r]
	}
	c, _ := f.child(0, r)
	return c
}

// child returns the child of s on r: a linear scan of a few edges, else a
// binary search.
func (f *Filter) child(s int32, r rune) (int32, bool) {
	n := &f.nodes[s]
	lo, hi := n.first, n.last
	for hi-lo > 8 {
		m := int32(uint32(lo+hi) >> 1)
		if f.edges[m].r < r {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for _, e := range f.edges[lo:hi] {
		if e.r == r {
			return e.next, true
		}
	}
	return 0, false
}

// Apply checks text against the rules. If any block rule matches, the
// result is Blocked with the word of the block rule whose match ends first
// in text (the longest of those ending there). Otherwise Text is text with
// every mask-rule match replaced by '*', one per original rune, overlapping
// matches merged; when nothing matches Text is text itself and Apply does
// not allocate.
func (f *Filter) Apply(text string) Result {
	if f == nil || len(f.edges) == 0 {
		return Result{Text: text}
	}
	s, masked := int32(0), 0
	for _, r := range text { // invalid bytes arrive as U+FFFD
		s = f.step(s, foldRune(r))
		n := &f.nodes[s]
		if n.block >= 0 {
			return Result{Blocked: true, Word: f.words[n.block]}
		}
		masked += int(n.maskCount)
	}
	if masked == 0 {
		return Result{Text: text}
	}
	return Result{Text: f.mask(text), Masked: masked}
}

// mask returns text with the runes of every mask match replaced by '*'.
// Matches are found at their last rune, after its preceding runes have
// been copied, so the output is cut back to the match's first rune and the
// stars written again; ring remembers where each of the last MaxWordRunes
// runes starts in the output.
func (f *Filter) mask(text string) string {
	out := make([]byte, 0, len(text))
	var ring [MaxWordRunes]int
	s := int32(0)
	for i, k := 0, 0; i < len(text); k++ {
		r, size := utf8.DecodeRuneInString(text[i:])
		ring[k%MaxWordRunes] = len(out)
		out = append(out, text[i:i+size]...)
		i += size
		s = f.step(s, foldRune(r))
		if n := int(f.nodes[s].maskLen); n > 0 {
			start := k - n + 1
			out = out[:ring[start%MaxWordRunes]]
			for j := start; j <= k; j++ {
				ring[j%MaxWordRunes] = len(out)
				out = append(out, '*')
			}
		}
	}
	return string(out)
}
