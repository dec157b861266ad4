package strictjson

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"unicode/utf8"
)

// reference is a slow, obviously correct Check built on encoding/json's
// tokenizer: the fast scanner must agree with it.
func reference(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var value func(depth int) bool
	value = func(depth int) bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return true
		}
		if depth >= MaxDepth {
			return false
		}
		if d == '{' {
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return false
				}
				key := k.(string)
				if seen[key] {
					return false
				}
				seen[key] = true
				if !value(depth + 1) {
					return false
				}
			}
		} else {
			for dec.More() {
				if !value(depth + 1) {
					return false
				}
			}
		}
		_, err = dec.Token()
		return err == nil
	}
	if !value(0) {
		return false
	}
	_, err := dec.Token()
	return err == io.EOF
}

// FuzzCheck checks that Check agrees with the reference implementation and
// with encoding/json's notion of validity.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `[{"b":[]}]`, `"x"`, `{} {}`, "\"\xff\"", `{"a":1,"\u0061":2}`, `{"k\\":1,"k":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := Check(data) == nil
		if got != reference(data) {
			t.Fatalf("Check(%q) ok=%v, reference says %v", data, got, !got)
		}
		if got && !json.Valid(data) {
			t.Fatalf("Check accepted invalid JSON %q", data)
		}
	})
}
