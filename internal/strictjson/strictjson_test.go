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
