package provenance_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/provenance"
)

// statementWithSubjects returns SLSA provenance whose subject digests are
// the given map.
func statementWithSubjects(digests map[string]string) []byte {
	var parts []string
	for alg, h := range digests {
		parts = append(parts, `"`+alg+`":"`+h+`"`)
	}
	return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"fw.bin","digest":{` + strings.Join(parts, ",") +
		`}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"t","externalParameters":{}},` +
		`"runDetails":{"builder":{"id":"b"},"metadata":{"startedOn":"2026-01-01T00:00:00Z","finishedOn":"2026-01-01T00:01:00Z"}}}}`)
}

func TestSubjectDigests(t *testing.T) {
	img := []byte("an image")
	s256 := sha256.Sum256(img)
	s512 := sha512.Sum512(img)
	rel := fwtest.NewRelease(img, nil)
	rel512 := fwtest.NewRelease(img, func(r *provenance.Release) { r.ImageSHA512 = s512[:] })
	for _, tc := range []struct {
		desc     string
		digests  map[string]string
		release  *provenance.Release
		parseErr string
		attests  bool
	}{
		{"sha256", map[string]string{"sha256": hex.EncodeToString(s256[:])}, rel, "", true},
		{"sha512 only, release names sha512", map[string]string{"sha512": hex.EncodeToString(s512[:])}, rel512, "", true},
		{"sha512 only, release names sha256 only", map[string]string{"sha512": hex.EncodeToString(s512[:])}, rel, "", false},
		{"another image", map[string]string{"sha256": strings.Repeat("ab", 32)}, rel, "", false},
		{"sha256 matches, release names no sha512", map[string]string{"sha256": hex.EncodeToString(s256[:]), "sha512": strings.Repeat("cd", 64)}, rel, "", true},
		{"sha256 matches, sha512 conflicts", map[string]string{"sha256": hex.EncodeToString(s256[:]), "sha512": strings.Repeat("cd", 64)}, rel512, "", false},
		{"sha512 matches, sha256 conflicts", map[string]string{"sha256": strings.Repeat("ab", 32), "sha512": hex.EncodeToString(s512[:])}, rel512, "", false},
		{"both match", map[string]string{"sha256": hex.EncodeToString(s256[:]), "sha512": hex.EncodeToString(s512[:])}, rel512, "", true},
		{"only digests under 256 bits", map[string]string{"sha1": strings.Repeat("ab", 20), "md5": strings.Repeat("ab", 16)}, rel, "no subject has a sha256", false},
		{"sha256 of the wrong length", map[string]string{"sha256": strings.Repeat("ab", 20)}, rel, "incorrect length", false},
		{"uppercase hex", map[string]string{"sha256": strings.ToUpper(hex.EncodeToString(s256[:]))}, rel, "lowercase", false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := provenance.ParseProvenance(statementWithSubjects(tc.digests))
			if tc.parseErr != "" {
				var se *provenance.StatementError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.parseErr) {
					t.Fatalf("ParseProvenance = %v, want a StatementError containing %q", err, tc.parseErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = provenance.CheckEndorsed(tc.release, digest.Digest{}, p)
			if (err == nil) != tc.attests {
				t.Errorf("CheckEndorsed = %v, want attests=%v", err, tc.attests)
			}
		})
	}
}

func TestProvenanceTimes(t *testing.T) {
	body := strings.Replace(string(statementWithSubjects(map[string]string{"sha256": strings.Repeat("ab", 32)})), `"finishedOn":"2026-01-01T00:01:00Z"`, `"finishedOn":"2025-12-31T23:59:00Z"`, 1)
	_, err := provenance.ParseProvenance([]byte(body))
	var se *provenance.StatementError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "before startedOn") {
		t.Errorf("finishedOn before startedOn: %v, want a *StatementError saying so", err)
	}
}

// TestAttestsPerSubject: digests are matched subject by subject, so one
// subject's SHA-256 and another's SHA-512 do not add up to a match, and a
// conflicting subject does not spoil a matching one.
func TestAttestsPerSubject(t *testing.T) {
	img := []byte("an image")
	s256, s512 := sha256.Sum256(img), sha512.Sum512(img)
	rel512 := fwtest.NewRelease(img, func(r *provenance.Release) { r.ImageSHA512 = s512[:] })
	subjects := func(subs ...string) []byte {
		return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[` + strings.Join(subs, ",") +
			`],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"t"},"runDetails":{"builder":{"id":"b"}}}}`)
	}
	sub := func(name string, d map[string]string) string {
		var parts []string
		for alg, h := range d {
			parts = append(parts, `"`+alg+`":"`+h+`"`)
		}
		return `{"name":"` + name + `","digest":{` + strings.Join(parts, ",") + `}}`
	}
	for _, tc := range []struct {
		desc string
		body []byte
		want bool
	}{
		{"sha256 of one subject, sha512 of another, both conflicting", subjects(
			sub("a", map[string]string{"sha256": hex.EncodeToString(s256[:]), "sha512": strings.Repeat("00", 64)}),
			sub("b", map[string]string{"sha256": strings.Repeat("11", 32), "sha512": hex.EncodeToString(s512[:])})), false},
		{"a conflicting subject beside a matching one", subjects(
			sub("a", map[string]string{"sha256": hex.EncodeToString(s256[:]), "sha512": strings.Repeat("00", 64)}),
			sub("b", map[string]string{"sha512": hex.EncodeToString(s512[:])})), true},
	} {
		p, err := provenance.ParseProvenance(tc.body)
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		if got := p.Attests(rel512); got != tc.want {
			t.Errorf("%s: Attests = %v, want %v", tc.desc, got, tc.want)
		}
	}
}
