package revocation

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
)

// root computes the RFC 6962 Merkle tree hash of leaf hashes the slow way
// (RFC 6962, section 2.1), to check Commit against.
func root(hashes [][]byte) []byte {
	switch len(hashes) {
	case 0:
		return rfc6962.DefaultHasher.EmptyRoot()
	case 1:
		return hashes[0]
	}
	k := 1
	for k*2 < len(hashes) {
		k *= 2
	}
	return rfc6962.DefaultHasher.HashChildren(root(hashes[:k]), root(hashes[k:]))
}

func TestCommitIsTheMerkleTreeHash(t *testing.T) {
	var hashes [][]byte
	for n := 0; n <= 33; n++ {
		c, err := Commit(hashes)
		if err != nil {
			t.Fatal(err)
		}
		if c.Count != uint64(n) || !bytes.Equal(c.Root, root(hashes)) {
			t.Fatalf("Commit of %d leaves = %d %x, want %x", n, c.Count, c.Root, root(hashes))
		}
		h := sha256.Sum256([]byte(fmt.Sprint(n)))
		hashes = append(hashes, h[:])
	}
	if _, err := Commit([][]byte{{1, 2}}); err == nil {
		t.Error("Commit took a 2-byte leaf hash")
	}
}

func TestLineRoundTrip(t *testing.T) {
	h := sha256.Sum256([]byte("x"))
	for _, c := range []Commitment{{0, rfc6962.DefaultHasher.EmptyRoot()}, {1, h[:]}, {MaxRevocations, h[:]}} {
		cp := "example.com/log\n5\nAAAA\n" + c.Line() + "\n\n— example.com/log sig\n"
		got, err := FromCheckpoint([]byte(cp))
		if err != nil || !got.Equal(c) {
			t.Errorf("FromCheckpoint(%q) = %+v, %v", cp, got, err)
		}
	}
}

func TestFromCheckpointRefuses(t *testing.T) {
	h := sha256.Sum256([]byte("x"))
	good := Commitment{1, h[:]}.Line()
	empty := rfc6962.DefaultHasher.EmptyRoot()
	for name, body := range map[string]string{
		"absent":           "o\n1\nAAAA\n",
		"absent, other":    "o\n1\nAAAA\nother.example/ext 1\n",
		"twice":            "o\n1\nAAAA\n" + good + "\n" + good + "\n",
		"leading zero":     "o\n1\nAAAA\n" + strings.Replace(good, " 1 ", " 01 ", 1) + "\n",
		"no root":          "o\n1\nAAAA\n" + LineKeyword + " 1\n",
		"short root":       "o\n1\nAAAA\n" + LineKeyword + " 1 AAAA\n",
		"raw base64":       "o\n1\nAAAA\n" + strings.TrimRight(good, "=") + "\n",
		"zero, not empty":  "o\n1\nAAAA\n" + Commitment{0, h[:]}.Line() + "\n",
		"too many":         "o\n1\nAAAA\n" + Commitment{MaxRevocations + 1, empty}.Line() + "\n",
		"extra field":      "o\n1\nAAAA\n" + good + " x\n",
		"in the signature": "o\n1\nAAAA\n\n" + good + "\n",
		// note.Open ends the text at the last blank line: a line after an
		// empty one is in the text, and an empty line is refused.
		"after a blank line": "o\n1\nAAAA\n" + Commitment{0, empty}.Line() + "\n\n" + good + "\n\n— o sig\n",
	} {
		_, err := FromCheckpoint([]byte(body))
		if err == nil {
			t.Errorf("%s: FromCheckpoint(%q) accepted it", name, body)
		}
		if strings.HasPrefix(name, "absent") || name == "in the signature" {
			if !errors.Is(err, ErrNoCommitment) {
				t.Errorf("%s: err = %v, want ErrNoCommitment", name, err)
			}
		}
	}
}

// FuzzFromCheckpoint checks that the line parser never panics, and that
// what it accepts is in canonical form: the line it would write.
func FuzzFromCheckpoint(f *testing.F) {
	f.Add([]byte("example.com/log\n3\nAAAA\n" + Commitment{0, rfc6962.DefaultHasher.EmptyRoot()}.Line() + "\n\n— example.com/log x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := FromCheckpoint(data)
		if err != nil {
			return
		}
		if c.Count > MaxRevocations || len(c.Root) != 32 || !bytes.Contains(data, []byte("\n"+c.Line())) {
			t.Fatalf("FromCheckpoint(%q) = %+v, which is not a line of it in canonical form", data, c)
		}
	})
}
