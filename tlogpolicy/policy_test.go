package tlogpolicy_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/tlogpolicy"
	"golang.org/x/mod/sumdb/note"
)

func logVKey(t testing.TB) string {
	v, err := fwtest.LogKey.Public().VerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseWitnessPolicy(t *testing.T) {
	a, b, c := fwtest.CosignerVKey(t, fwtest.WitnessA), fwtest.CosignerVKey(t, fwtest.WitnessB), fwtest.CosignerVKey(t, fwtest.WitnessC)
	plainA, _ := fwtest.WitnessA.Public().VerifierKey() // type 0x01: the same key as a
	good := fmt.Sprintf("# fleet policy\nlog %s http://127.0.0.1:8080\n\n  witness\tX1 %s https://w1.example/prefix  \nwitness X2 %s\nwitness X3 %s\ngroup X 2 X1 X2 X3\n\t# comment\ngroup top all X\nquorum top\n", logVKey(t), a, b, c)
	p, err := tlogpolicy.Parse([]byte(good))
	if err != nil {
		t.Fatalf("ParseWitnessPolicy(good) = %v", err)
	}
	if len(p.Logs) != 1 || p.Logs[0].URL != "http://127.0.0.1:8080" || p.Logs[0].Verifier.Name() != fwtest.LogKey.Name {
		t.Errorf("logs = %+v", p.Logs)
	}
	if len(p.Witnesses) != 3 || p.Witnesses[0].Name != "X1" || p.Witnesses[0].URL != "https://w1.example/prefix" || p.Witnesses[1].URL != "" {
		t.Errorf("witnesses = %+v", p.Witnesses)
	}
	if p.Quorum != "top" {
		t.Errorf("quorum = %q", p.Quorum)
	}
	for _, tc := range []struct {
		cosigned []string
		want     bool
	}{
		{nil, false}, {[]string{"X1"}, false}, {[]string{"X1", "X3"}, true}, {[]string{"X2", "X3", "X1"}, true}, {[]string{"X2", "nobody"}, false},
	} {
		if got := p.Satisfied(tc.cosigned); got != tc.want {
			t.Errorf("Satisfied(%q) = %v, want %v", tc.cosigned, got, tc.want)
		}
	}
	if _, err := tlogpolicy.Parse([]byte("quorum none")); err != nil {
		t.Errorf("quorum none without a final newline: %v", err)
	}
	if p, err := tlogpolicy.Parse([]byte("witness single " + plainA + "\nquorum single\n")); err != nil || !p.Satisfied([]string{"single"}) {
		t.Errorf("a plain Ed25519 witness vkey and a witness as the quorum: %v", err)
	}

	log := "log " + logVKey(t) + "\n"
	for _, tc := range []struct {
		desc, policy, want string
	}{
		{"no quorum", log, "no quorum line"},
		{"empty", "", "no quorum line"},
		{"two quorums", "quorum none\nquorum none\n", "line 2: a second quorum line"},
		{"unknown keyword", "logs " + logVKey(t) + "\nquorum none\n", `line 1: unknown keyword "logs"`},
		{"quorum undefined", "quorum w\n", `line 1: quorum "w" is not defined on an earlier line`},
		{"quorum before witness", "quorum w\nwitness w " + a + "\n", `quorum "w" is not defined`},
		{"group before member", "group g any w\nwitness w " + a + "\nquorum g\n", `group "g" names "w", which is not defined on an earlier line`},
		{"member twice", "witness w " + a + "\ngroup g 1 w w\nquorum g\n", `"w" is a group member more than once`},
		{"member of two groups", "witness w " + a + "\nwitness v " + b + "\ngroup g any w\ngroup h any w v\nquorum h\n", `"w" is a group member more than once`},
		{"none as member", "witness w " + a + "\ngroup g any w none\nquorum g\n", `"none" cannot be a group member`},
		{"none defined", "witness none " + a + "\nquorum none\n", `"none" is predefined`},
		{"name twice", "witness w " + a + "\nwitness w " + b + "\nquorum w\n", `"w" is already defined`},
		{"group named like witness", "witness w " + a + "\ngroup w any w\nquorum w\n", `"w" is already defined`},
		{"k zero", "witness w " + a + "\ngroup g 0 w\nquorum g\n", "threshold 0 is not between 1 and the 1 members"},
		{"k too large", "witness w " + a + "\ngroup g 2 w\nquorum g\n", "threshold 2 is not between 1 and the 1 members"},
		{"k leading zero", "witness w " + a + "\ngroup g 01 w\nquorum g\n", `threshold "01" is not all, any or a decimal number`},
		{"k negative", "witness w " + a + "\ngroup g -1 w\nquorum g\n", `threshold "-1"`},
		{"k word", "witness w " + a + "\ngroup g most w\nquorum g\n", `threshold "most"`},
		{"group without members", "group g any\nquorum none\n", "want: group <name> all|any|<k> <name>..."},
		{"duplicate witness key", "witness w " + a + "\nwitness v " + a + "\nquorum w\n", "witness v has the same public key as witness w"},
		{"duplicate key other type", "witness w " + a + "\nwitness v " + plainA + "\nquorum w\n", "witness v has the same public key as witness w"},
		{"duplicate log", log + log + "quorum none\n", "has the same public key as log"},
		{"bad log vkey", "log example.com/log+00000000+AAAA\nquorum none\n", "invalid log vkey"},
		{"bad witness vkey", "witness w not-a-vkey\nquorum w\n", "invalid witness vkey"},
		{"witness missing key", "witness w\nquorum none\n", "want: witness <name> <vkey> [<url>]"},
		{"witness extra field", "witness w " + a + " http://x.example extra\nquorum w\n", "want: witness <name> <vkey> [<url>]"},
		{"log bad url", "log " + logVKey(t) + " ftp://x.example\nquorum none\n", `URL "ftp://x.example" is not an absolute http or https URL`},
		{"witness relative url", "witness w " + a + " /add-checkpoint\nquorum w\n", "is not an absolute http or https URL"},
		{"carriage return", "quorum none\r\n", "byte 0x0d is not allowed"},
		{"control byte", "# \x01\nquorum none\n", "line 1: byte 0x01 is not allowed"},
		{"too large", "#" + strings.Repeat("x", tlogpolicy.MaxSize) + "\nquorum none\n", "larger than"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := tlogpolicy.Parse([]byte(tc.policy))
			var pe *tlogpolicy.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %v, want a *ParseError", tc.policy, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %q, want it to contain %q", tc.policy, err, tc.want)
			}
		})
	}
}

func TestWitnessPolicyVerifyCheckpoint(t *testing.T) {
	root := sha256.Sum256([]byte("root"))
	cp := fwtest.SignCheckpoint(t, fwtest.LogKey, 42, root[:])
	policy := func(t *testing.T, k int) *tlogpolicy.Policy {
		p, err := tlogpolicy.Parse(fwtest.WitnessPolicy(t, fwtest.LogKey, k, []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	twoOfThree := policy(t, 2)
	// corrupt flips a bit in the signature of the line naming key.
	corrupt := func(signed []byte, key string) []byte {
		lines := strings.Split(string(signed), "\n")
		for i, l := range lines {
			if rest, ok := strings.CutPrefix(l, "— "+key+" "); ok {
				raw, _ := base64.StdEncoding.DecodeString(rest)
				raw[len(raw)-1] ^= 1
				lines[i] = "— " + key + " " + base64.StdEncoding.EncodeToString(raw)
			}
		}
		return []byte(strings.Join(lines, "\n"))
	}
	other := fwtest.Key("example.com/otherlog")
	before := time.Now().Add(-time.Second)
	for _, tc := range []struct {
		desc      string
		policy    *tlogpolicy.Policy
		note      []byte
		wantErr   any
		cosigners []string
	}{
		{"two of three", twoOfThree, fwtest.Cosign(t, cp, fwtest.WitnessA, fwtest.WitnessC), nil, []string{"w0", "w2"}},
		{"all three", twoOfThree, fwtest.Cosign(t, cp, fwtest.WitnessC, fwtest.WitnessB, fwtest.WitnessA), nil, []string{"w2", "w1", "w0"}},
		{"unknown cosigner ignored", twoOfThree, fwtest.Cosign(t, cp, fwtest.WitnessD, fwtest.WitnessA, fwtest.WitnessB), nil, []string{"w0", "w1"}},
		{"quorum none", policy(t, 0), cp, nil, nil},
		{"no cosignature", twoOfThree, cp, &tlogpolicy.QuorumError{}, nil},
		{"one of three", twoOfThree, fwtest.Cosign(t, cp, fwtest.WitnessB), &tlogpolicy.QuorumError{}, nil},
		{"unknown cosigners do not count", twoOfThree, fwtest.Cosign(t, cp, fwtest.WitnessB, fwtest.WitnessD), &tlogpolicy.QuorumError{}, nil},
		{"a cosignature twice counts once", twoOfThree, append(fwtest.Cosign(t, cp, fwtest.WitnessB), fwtest.CosignatureLines(t, cp, fwtest.WitnessB)...), &tlogpolicy.QuorumError{}, nil},
		{"bad cosignature from a known witness", twoOfThree, corrupt(fwtest.Cosign(t, cp, fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC), fwtest.WitnessB.Name), &tlogpolicy.CheckpointError{}, nil},
		{"bad log signature", twoOfThree, corrupt(fwtest.Cosign(t, cp, fwtest.WitnessA, fwtest.WitnessB), fwtest.LogKey.Name), &tlogpolicy.CheckpointError{}, nil},
		{"log signature missing", twoOfThree, fwtest.Cosign(t, fwtest.SignCheckpoint(t, &keys.PrivateKey{Name: fwtest.LogKey.Name, Key: fwtest.Key("impostor").Key}, 42, root[:]), fwtest.WitnessA, fwtest.WitnessB), &tlogpolicy.CheckpointError{}, nil},
		{"log not in policy", twoOfThree, fwtest.Cosign(t, fwtest.SignCheckpoint(t, other, 42, root[:]), fwtest.WitnessA, fwtest.WitnessB), &tlogpolicy.CheckpointError{}, nil},
		{"cosigned another checkpoint", twoOfThree, append(bytes.Clone(cp), fwtest.CosignatureLines(t, fwtest.SignCheckpoint(t, fwtest.LogKey, 43, root[:]), fwtest.WitnessA, fwtest.WitnessB)...), &tlogpolicy.CheckpointError{}, nil},
		{"garbage", twoOfThree, []byte("garbage"), &tlogpolicy.CheckpointError{}, nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			wc, err := tc.policy.VerifyCheckpoint(tc.note)
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("VerifyCheckpoint = %v, want success", err)
				}
				if wc.Checkpoint.Size != 42 || !bytes.Equal(wc.Checkpoint.Hash, root[:]) {
					t.Errorf("checkpoint = %+v", wc.Checkpoint)
				}
				var got []string
				for _, c := range wc.Cosignatures {
					got = append(got, c.Witness)
					if c.Time.Before(before) || c.Time.After(time.Now().Add(time.Second)) {
						t.Errorf("cosignature of %s has time %v", c.Witness, c.Time)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.cosigners) {
					t.Errorf("cosigners = %q, want %q", got, tc.cosigners)
				}
			case *tlogpolicy.QuorumError:
				if !errors.As(err, &want) {
					t.Fatalf("VerifyCheckpoint = %v, want a *QuorumError", err)
				}
			case *tlogpolicy.CheckpointError:
				if !errors.As(err, &want) {
					t.Fatalf("VerifyCheckpoint = %v, want a *CheckpointError", err)
				}
			}
		})
	}
}

func TestParsePolicyLogs(t *testing.T) {
	log := "log " + logVKey(t) + "\n"
	logs, err := tlogpolicy.ParseLogs([]byte("# followed logs\n" + log))
	if err != nil || len(logs) != 1 || logs[0].Verifier.Name() != fwtest.LogKey.Name {
		t.Fatalf("ParsePolicyLogs = %+v, %v", logs, err)
	}
	for _, tc := range []struct {
		desc, list string
		line       int
		want       string
	}{
		{"empty", "# nothing\n", 0, "invalid log list: no log line"},
		{"a witness line", log + "witness w " + fwtest.CosignerVKey(t, fwtest.WitnessA) + "\n", 2, "invalid log list: line 2: want: log <vkey> [<url>]"},
		{"a quorum line", log + "quorum none\n", 2, "invalid log list: line 2: want: log <vkey> [<url>]"},
		{"duplicate key", log + log, 2, "has the same public key as log"},
	} {
		_, err := tlogpolicy.ParseLogs([]byte(tc.list))
		var pe *tlogpolicy.ParseError
		if !errors.As(err, &pe) || pe.File != "log list" || pe.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParseLogs = %v, want a *ParseError of the log list at line %d, saying %q", tc.desc, err, tc.line, tc.want)
		}
	}
}

// TestCheckpointErrorNamesKeys checks that a checkpoint signed by another
// key is rejected with the evidence: which keys signed, which was expected.
func TestCheckpointErrorNamesKeys(t *testing.T) {
	logV, err := fwtest.LogKey.Public().NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	want := tlogpolicy.NoteKey{Name: logV.Name(), Hash: logV.KeyHash()}
	impostor := fwtest.Key("example.com/testlog-impostor")
	impostor.Name = fwtest.LogKey.Name // same name, another key: another hash
	other := fwtest.Key("example.com/another-log")
	root := make([]byte, 32)
	keyOf := func(k *keys.PrivateKey) tlogpolicy.NoteKey {
		v, err := k.Public().NoteVerifier()
		if err != nil {
			t.Fatal(err)
		}
		return tlogpolicy.NoteKey{Name: v.Name(), Hash: v.KeyHash()}
	}
	for _, tc := range []struct {
		desc    string
		signers []*keys.PrivateKey
	}{
		{"same name, another key", []*keys.PrivateKey{impostor}},
		{"two other keys", []*keys.PrivateKey{other, impostor}},
	} {
		signed := fwtest.SignCheckpoint(t, tc.signers[0], 3, root)
		if len(tc.signers) > 1 {
			signed = fwtest.Cosign(t, signed, tc.signers[1:]...)
		}
		_, err := tlogpolicy.VerifyCheckpoint(logV, signed)
		var ce *tlogpolicy.CheckpointError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: VerifyCheckpoint = %v, want a CheckpointError", tc.desc, err)
		}
		if ce.Expected != want {
			t.Errorf("%s: Expected = %v, want %v", tc.desc, ce.Expected, want)
		}
		if len(ce.Signatures) != len(tc.signers) {
			t.Fatalf("%s: Signatures = %v, want %d", tc.desc, ce.Signatures, len(tc.signers))
		}
		for i, k := range tc.signers {
			if ce.Signatures[i].Name != k.Name || (i == 0 && ce.Signatures[0] != keyOf(k)) {
				t.Errorf("%s: Signatures[%d] = %v, want %s's key", tc.desc, i, ce.Signatures[i], k.Name)
			}
		}
		// The message names both, for the user reading it.
		for _, k := range append([]tlogpolicy.NoteKey{want}, ce.Signatures...) {
			if !strings.Contains(err.Error(), k.String()) {
				t.Errorf("%s: %q does not name %s", tc.desc, err, k)
			}
		}
	}
}

// TestTwoLogKeys: during a log key rotation a policy names two keys for
// one origin; a checkpoint signed by either is the log's, one signed by
// neither is not, and a bad signature by either rejects it.
func TestTwoLogKeys(t *testing.T) {
	next := fwtest.Key("example.com/testlog-next")
	next.Name = fwtest.LogKey.Name // the same origin, a new key
	nextVKey, _ := next.Public().VerifierKey()
	pol := fmt.Sprintf("log %s\nlog %s\nwitness a %s\nquorum a\n", logVKey(t), nextVKey, fwtest.CosignerVKey(t, fwtest.WitnessA))
	p, err := tlogpolicy.Parse([]byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	if ks := p.LogKeys(fwtest.LogKey.Name); len(ks) != 2 {
		t.Fatalf("LogKeys = %d keys, want 2", len(ks))
	}
	root := sha256.Sum256([]byte("root"))
	impostor := fwtest.Key("impostor")
	impostor.Name = fwtest.LogKey.Name
	for _, c := range []struct {
		name   string
		signer *keys.PrivateKey
		ok     bool
	}{{"the old key", fwtest.LogKey, true}, {"the new key", next, true}, {"neither", impostor, false}} {
		cp := fwtest.Cosign(t, fwtest.SignCheckpoint(t, c.signer, 7, root[:]), fwtest.WitnessA)
		if _, err := p.VerifyCheckpoint(cp); (err == nil) != c.ok {
			t.Errorf("signed by %s: %v, want ok %v", c.name, err, c.ok)
		}
	}
	both := fwtest.SignCheckpoint(t, fwtest.LogKey, 7, root[:])
	s, _ := next.NoteSigner()
	n, err := note.Open(both, note.VerifierList(mustVerifier(t, fwtest.LogKey)))
	if err != nil {
		t.Fatal(err)
	}
	twice, err := note.Sign(n, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.VerifyCheckpoint(fwtest.Cosign(t, twice, fwtest.WitnessA)); err != nil {
		t.Errorf("signed by both keys: %v", err)
	}
	// The first signature line is the old key's: corrupt it alone.
	lines := strings.Split(string(twice), "\n")
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, "— "+fwtest.LogKey.Name+" "); ok {
			raw, _ := base64.StdEncoding.DecodeString(rest)
			raw[len(raw)-1] ^= 1
			lines[i] = "— " + fwtest.LogKey.Name + " " + base64.StdEncoding.EncodeToString(raw)
			break
		}
	}
	if _, err := p.VerifyCheckpoint(fwtest.Cosign(t, []byte(strings.Join(lines, "\n")), fwtest.WitnessA)); err == nil {
		t.Error("a bad signature by one of the log's keys was accepted")
	}
}

func mustVerifier(t *testing.T, k *keys.PrivateKey) note.Verifier {
	v, err := k.Public().NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestEmptyExtensionLine: C2SP tlog-checkpoint extension lines are opaque
// but must not be empty; a checkpoint with one is refused, by the log key
// and under a policy.
func TestEmptyExtensionLine(t *testing.T) {
	root := sha256.Sum256([]byte("root"))
	cp := fwtest.SignCheckpoint(t, fwtest.LogKey, 5, root[:], "example.dev/a 1", "", "example.dev/b 2")
	if _, err := tlogpolicy.VerifyCheckpoint(mustVerifier(t, fwtest.LogKey), cp); err == nil {
		t.Error("VerifyCheckpoint took an empty extension line")
	}
	p, err := tlogpolicy.Parse([]byte("log " + logVKey(t) + "\nquorum none\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.VerifyCheckpoint(cp); err == nil {
		t.Error("Policy.VerifyCheckpoint took an empty extension line")
	}
	if _, err := p.VerifyCheckpoint(fwtest.SignCheckpoint(t, fwtest.LogKey, 5, root[:], "example.dev/a 1")); err != nil {
		t.Errorf("a checkpoint with an extension line: %v", err)
	}
}
