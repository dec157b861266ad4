package fwtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// SigstoreBundle returns a Sigstore bundle (keyless provenance, as a
// GitHub Actions workflow would make) of SLSA provenance for img with n
// resolved dependencies: n = 900 makes it larger than a tile entry. Its
// certificate and signature are placeholders, for a KeylessVerifier a test
// stands in.
func SigstoreBundle(t testing.TB, img []byte, n int) []byte {
	t.Helper()
	var deps []string
	for i := 0; i < n; i++ {
		deps = append(deps, fmt.Sprintf(`{"uri":"pkg:generic/dependency-number-%04d@1.0.0","digest":{"sha256":"%064x"}}`, i, i))
	}
	stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"fw.bin","digest":{"sha256":"%x"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1","externalParameters":{"workflow":{"repository":"https://github.com/acme/fw","ref":"refs/tags/v9","path":".github/workflows/release.yml"}},"resolvedDependencies":[%s]},"runDetails":{"builder":{"id":"https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9"}}}}`,
		sha256.Sum256(img), strings.Join(deps, ","))
	b, err := json.Marshal(map[string]any{
		"mediaType":            "application/vnd.dev.sigstore.bundle.v0.3+json",
		"verificationMaterial": map[string]any{"certificate": map[string]any{"rawBytes": "AAAA"}},
		"dsseEnvelope": map[string]any{
			"payload": base64.StdEncoding.EncodeToString([]byte(stmt)), "payloadType": "application/vnd.in-toto+json",
			"signatures": []any{map[string]any{"sig": "AAAA"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
