package strictjson

import (
	"fmt"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"a":1,"b":[1,{"c":null}]}`, true},
		{`"s"`, true},
		{`{"a":1,"a":2}`, false},
		{`{"a":{"b":1,"b":1}}`, false},
		{`[{"x":1},{"x":1}]`, true},
		{`{"a":1} x`, false},
		{`{"a":1`, false},
		{"\"\xff\"", false},
		{strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), false},
		{strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), true},
		{``, false},
	} {
		if err := Check([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("Check(%.40q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestEscapedDuplicateKeys(t *testing.T) {
	for _, in := range []string{`{"a":1,"\u0061":2}`, `{"a\"b":1,"a\u0022b":2}`, `{"x":{"k":[{"k":1}],"k":2}}`} {
		if err := Check([]byte(in)); err == nil {
			t.Errorf("Check(%s) = nil, want a duplicate key error", in)
		}
	}
	for _, in := range []string{`{"a":"a","b":"a"}`, `{"a":{"a":{"a":1}}}`, `[{"a":1},{"a":1}]`, `{"k\\":1,"k":2}`} {
		if err := Check([]byte(in)); err != nil {
			t.Errorf("Check(%s) = %v, want nil", in, err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	doc := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"fw.bin","digest":{"sha256":"8e96142f05b4170c1b01db2c6c35766c0b66633fd94b9b30a17d046cca28840a"}}],"predicateType":"https://fwledger.dev/release/v1","predicate":{"channel":"stable","created":"2026-11-23T20:08:23Z","hardwareModels":["acme-x1"],"imageSize":300000,"securityVersion":7,"version":"1.4.0"}}`)
	for b.Loop() {
		if err := Check(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestKeysAcrossObjects checks that keys are compared within one object
// only, and in objects of more keys than are compared one by one.
func TestKeysAcrossObjects(t *testing.T) {
	many := func(n int, dup string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		if dup != "" {
			fmt.Fprintf(&b, `%q:0,`, dup)
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
