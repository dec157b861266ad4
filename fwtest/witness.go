package fwtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/fwledger/fwledger/witness"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
)

// SignCheckpoint returns a checkpoint for (size, root), with the given
// extension lines, signed by logKey, whose name is the origin.
func SignCheckpoint(t testing.TB, logKey *keys.PrivateKey, size uint64, root []byte, extensions ...string) []byte {
	t.Helper()
	s, err := logKey.NoteSigner()
	if err != nil {
		t.Fatal(err)
	}
	text := flog.Checkpoint{Origin: logKey.Name, Size: size, Hash: root}.Marshal()
	for _, e := range extensions {
		text = append(append(text, e...), '\n')
	}
	signed, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// CosignatureLines returns the cosignature/v1 signature lines of each
// witness key over the signed note's text.
func CosignatureLines(t testing.TB, signed []byte, witnesses ...*keys.PrivateKey) []byte {
	t.Helper()
	text, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		t.Fatalf("not a signed note: %q", signed)
	}
	var lines []byte
	for _, w := range witnesses {
		s, err := w.CosignatureSigner()
		if err != nil {
			t.Fatal(err)
		}
		out, err := note.Sign(&note.Note{Text: string(text) + "\n"}, s)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.LastIndex(out, []byte("\n— "))
		lines = append(lines, out[i+1:]...)
	}
	return lines
}

// Cosign returns signed with a cosignature/v1 line of each witness key
// appended.
func Cosign(t testing.TB, signed []byte, witnesses ...*keys.PrivateKey) []byte {
	t.Helper()
	return append(bytes.Clone(signed), CosignatureLines(t, signed, witnesses...)...)
}

// CosignerVKey returns the cosignature/v1 vkey of a witness key.
func CosignerVKey(t testing.TB, w *keys.PrivateKey) string {
	t.Helper()
	v, err := w.Public().CosignatureVerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// WitnessPolicy returns a C2SP tlog-policy text naming logKey and the
// witnesses (named w0, w1, …, with the given URLs if any) and a group of
// k of them as the quorum (k = 0 gives "quorum none").
func WitnessPolicy(t testing.TB, logKey *keys.PrivateKey, k int, witnesses []*keys.PrivateKey, urls ...string) []byte {
	t.Helper()
	vkey, err := logKey.Public().VerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "log %s\n", vkey)
	var names []string
	for i, w := range witnesses {
		name := fmt.Sprintf("w%d", i)
		names = append(names, name)
		fmt.Fprintf(&b, "witness %s %s", name, CosignerVKey(t, w))
		if i < len(urls) {
			fmt.Fprintf(&b, " %s", urls[i])
		}
		b.WriteString("\n")
	}
	if k == 0 {
		b.WriteString("quorum none\n")
		return []byte(b.String())
	}
	fmt.Fprintf(&b, "group quorum-group %d %s\nquorum quorum-group\n", k, strings.Join(names, " "))
	return []byte(b.String())
}

// TreeConsistency returns the roots of the first m and of all the leaves,
// and the consistency proof between them.
func TreeConsistency(leaves [][]byte, m uint64) (rootM, rootN []byte, proof [][]byte) {
	tree := testonly.New(rfc6962.DefaultHasher)
	tree.AppendData(leaves...)
	proof, err := tree.ConsistencyProof(m, tree.Size())
	if err != nil {
		panic(err)
	}
	return tree.HashAt(m), tree.Hash(), proof
}

// Logger returns a logger that writes to t's log (shown on failure or
// with -v).
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// LogList returns a witness's log list naming the logs of logKeys.
func LogList(t testing.TB, logKeys ...*keys.PrivateKey) *witness.LogList {
	t.Helper()
	var list strings.Builder
	for _, k := range logKeys {
		v, err := k.Public().VerifierKey()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&list, "log %s\n", v)
	}
	logs, err := witness.ParseLogList([]byte(list.String()))
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

// StartWitnesses starts fwwitness servers on 127.0.0.1, one for each key,
// that follow the logs of logKeys, and returns their URLs. They stop when
// the test ends.
func StartWitnesses(t testing.TB, witnessKeys []*keys.PrivateKey, logKeys ...*keys.PrivateKey) []string {
	t.Helper()
	logs := LogList(t, logKeys...)
	var urls []string
	for _, k := range witnessKeys {
		s, err := k.CosignatureSigner()
		if err != nil {
			t.Fatal(err)
		}
		store, err := witness.OpenStore(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		w, err := witness.New(context.Background(), witness.Config{Signers: []note.Signer{s}, Logs: logs, Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(witness.NewHandler(w, nil))
		t.Cleanup(func() { srv.Close(); store.Close() })
		urls = append(urls, srv.URL)
	}
	return urls
}

// Collector returns a witness collector for the policy text.
func Collector(t testing.TB, policy []byte) *witness.Collector {
	t.Helper()
	p, err := tlogpolicy.Parse(policy)
	if err != nil {
		t.Fatal(err)
	}
	c, err := witness.NewCollector(witness.CollectorConfig{Policy: p, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
