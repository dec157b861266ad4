package strictjson

import (
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
