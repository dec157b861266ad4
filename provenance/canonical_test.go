package provenance_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/provenance"
)

// TestCanonicalEnvelope: every other encoding of a signed envelope is
// refused with a NonCanonicalError that names the difference, and
// canonicalizing it gives back the canonical bytes, whose signatures verify.
func TestCanonicalEnvelope(t *testing.T) {
	ctx := context.Background()
	stmt, err := fwtest.NewRelease([]byte("canonical image"), nil).Statement()
	if err != nil {
		t.Fatal(err)
	}
	canon := fwtest.SignPayload(t, stmt, fwtest.Release1, fwtest.Release2)
	env, err := provenance.ParseEnvelope(canon)
	if err != nil {
		t.Fatal(err)
	}
	if err := provenance.CheckCanonical(canon, env); err != nil {
		t.Fatalf("Sign's output is not canonical: %v", err)
	}
	if !strings.HasPrefix(string(canon), `{"payloadType":"application/vnd.in-toto+json","payload":"`) {
		t.Fatalf("canonical envelope starts %.60q", canon)
	}
	// edit returns the envelope as a map, changed by f, in a given encoding.
	var m map[string]any
	json.Unmarshal(canon, &m)
	sigs := m["signatures"].([]any)
	first := sigs[0].(map[string]any)
	rawSig, _ := base64.StdEncoding.DecodeString(first["sig"].(string))
	withSigs := func(s ...any) []byte {
		return []byte(strings.Replace(string(canon), string(mustJSON(sigs)), string(mustJSON(s)), 1))
	}
	urlSig := map[string]any{"keyid": first["keyid"], "sig": base64.URLEncoding.EncodeToString(rawSig)}
	var pretty bytes.Buffer
	json.Indent(&pretty, canon, "", "  ")
	body, _ := base64.StdEncoding.DecodeString(m["payload"].(string))
	urlPayload := bytes.Replace(canon, []byte(m["payload"].(string)), []byte(base64.RawURLEncoding.EncodeToString(body)), 1)
	if bytes.Equal(urlPayload, canon) {
		t.Fatal("the payload's URL-alphabet encoding without padding is its standard one: pick another statement")
	}
	for _, tc := range []struct {
		desc, data, reason string
	}{
		{"trailing newline", string(canon) + "\n", "newline after the JSON object"},
		{"leading space", " " + string(canon), "whitespace before the JSON object"},
		{"indented", pretty.String(), "whitespace between JSON tokens"},
		{"URL-alphabet signature", string(withSigs(urlSig, sigs[1])), "signature 0 is not in standard base64"},
		{"URL-alphabet payload", string(urlPayload), "payload is not in standard base64"},
		{"signatures reordered", string(withSigs(sigs[1], sigs[0])), "not sorted by keyid"},
		{"signature twice", string(withSigs(sigs[0], sigs[0], sigs[1])), "a signature appears twice"},
		{"members reordered", `{"payload":"` + m["payload"].(string) + `","payloadType":"application/vnd.in-toto+json","signatures":` + string(mustJSON(sigs)) + `}`, "differs from the canonical encoding at byte 9"},
		{"keyid escaped", escapeFirstKeyID(canon), "differs from the canonical encoding at byte"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			data := []byte(tc.data)
			env, err := provenance.ParseEnvelope(bytes.TrimSpace(data))
			if err != nil {
				t.Fatalf("the variant does not parse: %v", err)
			}
			err = provenance.CheckCanonical(data, env)
			var nc *provenance.NonCanonicalError
			if !errors.As(err, &nc) || !strings.Contains(nc.Reason, tc.reason) {
				t.Errorf("CheckCanonical = %v, want a NonCanonicalError with %q", err, tc.reason)
			}
			got, err := provenance.Canonicalize(data)
			if err != nil || !bytes.Equal(got, canon) {
				t.Errorf("Canonicalize = %s, %v; want the canonical envelope", got, err)
			}
		})
	}
	if _, err := provenance.VerifySignatures(ctx, env, fwtest.Ring(t, fwtest.Release1, fwtest.Release2), 2); err != nil {
		t.Errorf("the canonical envelope does not verify: %v", err)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func hexByte(c byte) string {
	return string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])
}

// escapeFirstKeyID writes the first character of the first keyid as a \u
// escape: the same string, encoded otherwise.
func escapeFirstKeyID(canon []byte) string {
	i := bytes.Index(canon, []byte(`"keyid":"`)) + len(`"keyid":"`)
	return string(canon[:i]) + `\u00` + hexByte(canon[i]) + string(canon[i+1:])
}
