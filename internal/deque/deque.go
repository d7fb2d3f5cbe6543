// Package deque is a first-in, first-out line that can also take an item
// back at its front, over one reused slice: emptied, it starts again at
// the slice's front; never empty, it is compacted once the taken part is
// the larger half, so a line that is always busy does not grow without
// bound.
package deque

// Deque is a line of T; the zero value is empty and ready to use. It is
// not safe for concurrent use.
type Deque[T any] struct {
	items []T
	head  int // items[:head] are taken
}

// Len returns the number of items in the line.
func (d *Deque[T]) Len() int { return len(d.items) - d.head }

// PushBack adds v at the end of the line.
func (d *Deque[T]) PushBack(v T) { d.items = append(d.items, v) }

// PushFront puts v at the front of the line, to be taken next.
func (d *Deque[T]) PushFront(v T) {
	if d.head > 0 {
		d.head--
		d.items[d.head] = v
		return
	}
	d.items = append([]T{v}, d.items...)
}

// PopFront takes the first item; the line must not be empty.
func (d *Deque[T]) PopFront() T {
	var zero T
	v := d.items[d.head]
	d.items[d.head] = zero // drop the reference
	d.head++
	switch {
	case d.head == len(d.items):
		d.items, d.head = d.items[:0], 0
	case d.head >= 1024 && d.head*2 >= len(d.items):
		n := copy(d.items, d.items[d.head:])
		clear(d.items[n:])
		d.items, d.head = d.items[:n], 0
	}
	return v
}
