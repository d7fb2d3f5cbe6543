package deque

import "testing"

func TestOrder(t *testing.T) {
	var d Deque[int]
	for i := range 5 {
		d.PushBack(i)
	}
	if d.PopFront() != 0 {
		t.Fatal("first out is not the first in")
	}
	d.PushFront(0) // taken back
	d.PushFront(-1)
	var got []int
	for d.Len() > 0 {
		got = append(got, d.PopFront())
	}
	want := []int{-1, 0, 1, 2, 3, 4}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// TestBusyLineStaysSmall: a line that never empties (one in, one out)
// keeps its order and its slice bounded.
func TestBusyLineStaysSmall(t *testing.T) {
	var d Deque[int]
	in, out := 0, 0
	for range 10 {
		d.PushBack(in)
		in++
	}
	for range 100_000 {
		d.PushBack(in)
		in++
		if v := d.PopFront(); v != out {
			t.Fatalf("took %d, want %d", v, out)
		}
		out++
	}
	if d.Len() != 10 {
		t.Fatalf("Len = %d, want 10", d.Len())
	}
	if cap(d.items) > 4096 {
		t.Fatalf("a line of 10 holds %d slots", cap(d.items))
	}
}

// TestPopDropsReferences: a taken item is not kept alive by the slice.
func TestPopDropsReferences(t *testing.T) {
	var d Deque[*int]
	for range 3 {
		d.PushBack(new(int))
	}
	d.PopFront()
	if d.items[0] != nil {
		t.Fatal("the taken slot still holds its item")
	}
}
