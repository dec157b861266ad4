//go:build !cgo

package main

import (
	"context"
	"errors"
)

func auditCmd(context.Context, *env, []string) error {
	return errors.New("this fwctl was built without cgo, and the auditor keeps its state in SQLite: build it with CGO_ENABLED=1")
}
