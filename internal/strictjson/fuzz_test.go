package strictjson

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
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

// TestKeysAcrossObjects checks that keys are compared within one object
// only, and in objects of more keys than are compared one by one.
func TestKeysAcrossObjects(t *testing.T) {
	many := func(n int, dup string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			b.WriteString(`"k` + strconv.Itoa(i) + `":` + strconv.Itoa(i) + `,`)
		}
		if dup != "" {
			b.WriteString(strconv.Quote(dup) + `:0,`)
		}
		b.WriteString(`"last":{"k1":1,"k2":[{"k1":2},{"k1":3}]}}`)
		return b.String()
	}
	for _, tc := range []struct {
		doc string
		ok  bool
	}{
		{`[{"a":1},{"a":2}]`, true},
		{`{"a":{"b":1},"b":2,"c":{"a":3}}`, true},
		{`{"a":{"b":1,"b":2}}`, false},
		{`{"a":{"b":1},"a":2}`, false},
		{many(5, ""), true},
		{many(40, ""), true},
		{many(40, "k3"), false},
		{many(40, "k39"), false},
		{many(15, "k0"), false},
		{`{"x":[{"k1":1}],` + many(30, "")[1:], true},
		{`{"k1":1,"o":` + many(30, "") + `,"k1":2}`, false},
		{`{"k1":1,"o":` + many(30, "") + `,"k2":2}`, true},
	} {
		if err := Check([]byte(tc.doc)); (err == nil) != tc.ok {
			t.Errorf("Check(%.60q…) = %v, want ok %v", tc.doc, err, tc.ok)
		}
	}
}
