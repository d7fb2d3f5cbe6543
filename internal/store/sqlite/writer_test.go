package sqlite

import (
	"database/sql"
	"errors"
	"testing"
)

// A shared commit keeps what each transaction did, except the one that
// failed, whose savepoint is undone: its error reaches only its caller.
func TestSharedCommitUndoesOnlyTheFailure(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE shared_test (x INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	insert := func(xs ...int) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			for _, x := range xs {
				if _, err := tx.ExecContext(ctx, `INSERT INTO shared_test (x) VALUES (?)`, x); err != nil {
					return err
				}
			}
			return nil
		}
	}
	boom := errors.New("boom")
	var thens []int
	then := func(i int) func() { return func() { thens = append(thens, i) } }
	batch := []*sharedTx{
		{fn: insert(1, 2), then: then(0), done: make(chan struct{})},
		{fn: func(tx *sql.Tx) error { _ = insert(3)(tx); return boom }, then: then(1), done: make(chan struct{})},
		{fn: insert(2), then: then(2), done: make(chan struct{})}, // a duplicate key: fails too
		{fn: insert(4), then: then(3), done: make(chan struct{})},
	}
	s.commitShared(batch)
	for i, r := range batch {
		select {
		case <-r.done:
		default:
			t.Fatalf("transaction %d not done", i)
		}
	}
	if batch[0].err != nil || batch[3].err != nil {
		t.Fatalf("the good transactions failed: %v, %v", batch[0].err, batch[3].err)
	}
	if !errors.Is(batch[1].err, boom) || batch[2].err == nil {
		t.Fatalf("the failures: %v, %v", batch[1].err, batch[2].err)
	}
	var got []int
	rows, err := s.read.QueryContext(ctx, `SELECT x FROM shared_test ORDER BY x`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var x int
		if err := rows.Scan(&x); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 4 {
		t.Fatalf("committed %v, want [1 2 4]", got)
	}
	if len(thens) != 2 || thens[0] != 0 || thens[1] != 3 {
		t.Fatalf("then ran for %v, want [0 3]", thens)
	}
}

// After Close, a shared write is refused instead of waiting forever.
func TestSharedWriteAfterClose(t *testing.T) {
	s := openTemp(t)
	s.Close()
	if err := s.inSharedTx(func(*sql.Tx) error { return nil }, nil); !errors.Is(err, errClosed) {
		t.Fatalf("inSharedTx after Close: %v", err)
	}
}
