//go:build !linux

package sqlite

import "errors"

// raiseThread is not supported here: the writer shares the cores with the
// other goroutines as they are.
func raiseThread(int) (int, error) { return 0, errors.ErrUnsupported }
