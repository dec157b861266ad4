package sqlitedb

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestWrapOS: SQLite's errors come back with the operating system's errno
// they stand for, so that the log tells a full disk or a permission problem
// from other failures without knowing SQLite.
func TestWrapOS(t *testing.T) {
	for _, tc := range []struct {
		desc string
		err  error
		want error // nil: no errno added
	}{
		{"the system's own errno", sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.EFBIG}, syscall.EFBIG},
		{"database full", sqlite3.Error{Code: sqlite3.ErrFull}, syscall.ENOSPC},
		{"read-only", fmt.Errorf("commit: %w", sqlite3.Error{Code: sqlite3.ErrReadonly}), syscall.EROFS},
		{"cannot open", sqlite3.Error{Code: sqlite3.ErrCantOpen}, syscall.EACCES},
		{"I/O error", sqlite3.Error{Code: sqlite3.ErrIoErr}, syscall.EIO},
		{"a constraint", sqlite3.Error{Code: sqlite3.ErrConstraint}, nil},
		{"not SQLite's", errors.New("other"), nil},
	} {
		err := tc.err
		WrapOS(&err)
		var se sqlite3.Error
		if tc.want == nil {
			if err != tc.err {
				t.Errorf("%s: WrapOS changed %v to %v", tc.desc, tc.err, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || !errors.As(err, &se) {
			t.Errorf("%s: WrapOS gave %v; want it to wrap both the SQLite error and %v", tc.desc, err, tc.want)
		}
	}
}
