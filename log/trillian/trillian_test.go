package trillian_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/storagetest"
	"github.com/fwledger/fwledger/log/trillian"
	"github.com/fwledger/fwledger/log/trillian/trilliantest"
)

// open returns a Storage on a new tree and database, holding the
// publisher lease.
func open(t *testing.T) *trillian.Storage {
	t.Helper()
	e := trilliantest.New(t)
	return openEnv(t, e, "")
}

func openEnv(t *testing.T, e *trilliantest.Env, holder string) *trillian.Storage {
	t.Helper()
	db, err := trillian.OpenDB(e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := trillian.Open(context.Background(), trillian.Config{DB: db, Client: e.Client, TreeID: e.TreeID, Holder: holder, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) log.Storage {
		s := open(t)
		if ok, err := s.Lease(context.Background(), 1<<40); err != nil || !ok {
			t.Fatalf("Lease = %v, %v", ok, err)
		}
		return s
	})
}

func TestConformanceShared(t *testing.T) {
	storagetest.RunShared(t, func(t *testing.T) (a, b log.SharedStorage) {
		e := trilliantest.New(t)
		return openEnv(t, e, "a"), openEnv(t, e, "b")
	})
}
