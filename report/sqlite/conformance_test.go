package sqlite_test

import (
	"context"
	"testing"

	"github.com/fwledger/fwledger/report/reporttest"
	"github.com/fwledger/fwledger/report/sqlite"
	"github.com/fwledger/fwledger/report/store"
)

// TestConformance runs the report stores' suite on a database in a new
// directory for each test; each handle reopens it.
func TestConformance(t *testing.T) {
	reporttest.Run(t, func(t *testing.T) reporttest.Opener {
		dir := t.TempDir()
		return func(t *testing.T, o store.Options) store.Store {
			s, err := sqlite.Open(context.Background(), dir, o)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
