package tlogpolicy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Limits of Parse. C2SP tlog-policy recommends supporting at
// least 32 of each.
const (
	MaxSize    = 64 << 10
	MaxLogs    = 256
	MaxMembers = 256 // witnesses and groups together
)

// A Policy is a C2SP tlog-policy (https://c2sp.org/tlog-policy): the
// logs whose checkpoints are accepted, the witnesses that cosign them, and
// the quorum of cosignatures a checkpoint needs. For example:
//
//	log example.com/fwlog+3f1d5a7c+AR... http://127.0.0.1:8080
//	witness a witness-a.example.org+58b0f2a1+BO... http://127.0.0.1:8181
//	witness b witness-b.example.org+a1c2e3d4+BF... http://127.0.0.1:8182
//	witness c witness-c.example.org+0ff1ce00+BA... http://127.0.0.1:8183
//	group two-of-three 2 a b c
//	quorum two-of-three
type Policy struct {
	// Logs are the accepted logs; a checkpoint must be signed by one whose
	// key name is the checkpoint's origin.
	Logs []Log
	// Witnesses are the witnesses the policy names.
	Witnesses []Witness
	// Quorum is the quorum line's name ("none" for no cosignatures).
	Quorum string

	quorum *quorumNode // nil for none
}

// A Log is a log line of a policy.
type Log struct {
	VKey     string
	URL      string // empty if the line has none
	Verifier note.Verifier
}

// A Witness is a witness line of a policy.
type Witness struct {
	Name     string
	VKey     string
	URL      string // the submission prefix; empty if the line has none
	Verifier note.Verifier
}

// A quorumNode is a witness (witness >= 0) or a group of k of its members.
type quorumNode struct {
	witness int
	k       int
	members []*quorumNode
}

func (q *quorumNode) satisfied(cosigned []bool) bool {
	if q.witness >= 0 {
		return cosigned[q.witness]
	}
	n := 0
	for _, m := range q.members {
		if m.satisfied(cosigned) {
			n++
		}
	}
	return n >= q.k
}

// A ParseError reports a policy file (or log list) that does not
// follow C2SP tlog-policy; Line is 1-based (0 for the file as a whole).
type ParseError struct {
	// File is what was parsed: "witness policy" or "log list".
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("invalid %s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("invalid %s: line %d: %s", e.File, e.Line, e.Msg)
}

// Parse parses a C2SP tlog-policy file. It follows the
// specification strictly: log, witness, group and quorum lines; comment
// and blank lines; names defined before use, each name a group member at
// most once, 1 <= k <= n; exactly one quorum line; no duplicate log or
// witness keys (the same public key under two names is a duplicate);
// only tab, newline and printable bytes. Witness keys are cosignature/v1
// vkeys (type 0x04, or 0x06 for ML-DSA-44); a plain Ed25519 vkey (0x01) is
// taken as the cosignature/v1 key of the same public key. URLs are
// optional and must be absolute http or https URLs.
func Parse(data []byte) (*Policy, error) {
	return parsePolicy(data, false)
}

// ParseLogs parses a file of tlog-policy log lines only (with blank
// and comment lines), such as a witness's list of the logs it follows, as
// strictly as Parse, and returns its logs.
func ParseLogs(data []byte) ([]Log, error) {
	p, err := parsePolicy(data, true)
	if err != nil {
		return nil, err
	}
	return p.Logs, nil
}

// parsePolicy parses a policy, or with logsOnly a list of log lines.
func parsePolicy(data []byte, logsOnly bool) (*Policy, error) {
	file := "witness policy"
	if logsOnly {
		file = "log list"
	}
	if len(data) > MaxSize {
		return nil, &ParseError{File: file, Msg: fmt.Sprintf("larger than %d bytes", MaxSize)}
	}
	p := &Policy{}
	nodes := map[string]*quorumNode{}
	used := map[string]bool{} // names already listed as a group member
	keys := map[string]string{}
	var quorumSeen bool
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, raw := range lines {
		n := i + 1
		fail := func(format string, a ...any) error {
			return &ParseError{File: file, Line: n, Msg: fmt.Sprintf(format, a...)}
		}
		for _, c := range raw {
			if c != '\t' && (c < 0x20 || c == 0x7f) {
				return nil, fail("byte 0x%02x is not allowed (only tab, newline and printable characters)", c)
			}
		}
		fields := strings.FieldsFunc(string(raw), func(r rune) bool { return r == ' ' || r == '\t' })
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if logsOnly && fields[0] != "log" {
			return nil, fail("want: log <vkey> [<url>]")
		}
		define := func(name string) error {
			if name == "none" {
				return fail(`"none" is predefined and cannot be defined`)
			}
			if _, ok := nodes[name]; ok {
				return fail("%q is already defined", name)
			}
			if len(nodes) >= MaxMembers {
				return fail("more than %d witnesses and groups", MaxMembers)
			}
			return nil
		}
		switch fields[0] {
		case "log":
			if len(fields) < 2 || len(fields) > 3 {
				return nil, fail("want: log <vkey> [<url>]")
			}
			if len(p.Logs) >= MaxLogs {
				return nil, fail("more than %d logs", MaxLogs)
			}
			v, err := note.NewVerifier(fields[1])
			if err != nil {
				return nil, fail("invalid log vkey %q: %v", fields[1], err)
			}
			if err := uniqueKey(keys, fields[1], "log "+v.Name()); err != nil {
				return nil, fail("%v", err)
			}
			l := Log{VKey: fields[1], Verifier: v}
			if len(fields) == 3 {
				if l.URL, err = policyURL(fields[2]); err != nil {
					return nil, fail("%v", err)
				}
			}
			p.Logs = append(p.Logs, l)
		case "witness":
			if len(fields) < 3 || len(fields) > 4 {
				return nil, fail("want: witness <name> <vkey> [<url>]")
			}
			if err := define(fields[1]); err != nil {
				return nil, err
			}
			v, err := fnote.NewVerifierForCosignatureV1(fields[2])
			if err != nil {
				return nil, fail("invalid witness vkey %q: %v", fields[2], err)
			}
			if err := uniqueKey(keys, fields[2], "witness "+fields[1]); err != nil {
				return nil, fail("%v", err)
			}
			w := Witness{Name: fields[1], VKey: fields[2], Verifier: v}
			if len(fields) == 4 {
				if w.URL, err = policyURL(fields[3]); err != nil {
					return nil, fail("%v", err)
				}
			}
			nodes[w.Name] = &quorumNode{witness: len(p.Witnesses)}
			p.Witnesses = append(p.Witnesses, w)
		case "group":
			if len(fields) < 4 {
				return nil, fail("want: group <name> all|any|<k> <name>...")
			}
			name, members := fields[1], fields[3:]
			if err := define(name); err != nil {
				return nil, err
			}
			g := &quorumNode{witness: -1}
			for _, m := range members {
				node, ok := nodes[m]
				switch {
				case m == "none":
					return nil, fail(`"none" cannot be a group member`)
				case !ok:
					return nil, fail("group %q names %q, which is not defined on an earlier line", name, m)
				case used[m]:
					return nil, fail("%q is a group member more than once", m)
				}
				used[m] = true
				g.members = append(g.members, node)
			}
			switch k := fields[2]; k {
			case "all":
				g.k = len(members)
			case "any":
				g.k = 1
			default:
				v, err := strconv.Atoi(k)
				if err != nil || strings.TrimLeft(k, "0123456789") != "" || (len(k) > 1 && k[0] == '0') {
					return nil, fail("threshold %q is not all, any or a decimal number", k)
				}
				if v < 1 || v > len(members) {
					return nil, fail("threshold %d is not between 1 and the %d members", v, len(members))
				}
				g.k = v
			}
			nodes[name] = g
		case "quorum":
			if len(fields) != 2 {
				return nil, fail("want: quorum <name>")
			}
			if quorumSeen {
				return nil, fail("a second quorum line")
			}
			quorumSeen = true
			p.Quorum = fields[1]
			if fields[1] == "none" {
				break
			}
			node, ok := nodes[fields[1]]
			if !ok {
				return nil, fail("quorum %q is not defined on an earlier line", fields[1])
			}
			p.quorum = node
		default:
			return nil, fail("unknown keyword %q (want log, witness, group or quorum)", fields[0])
		}
	}
	switch {
	case logsOnly && len(p.Logs) == 0:
		return nil, &ParseError{File: file, Msg: "no log line"}
	case !logsOnly && !quorumSeen:
		return nil, &ParseError{File: file, Msg: "no quorum line"}
	}
	return p, nil
}

// uniqueKey records the public key of vkey, refusing one already seen
// under any name, key ID or signature type of the same key.
func uniqueKey(seen map[string]string, vkey, who string) error {
	_, rest, _ := strings.Cut(vkey, "+")
	_, b64, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < 2 {
		return fmt.Errorf("invalid vkey %q", vkey)
	}
	alg, key := raw[0], raw[1:]
	family := "other"
	switch alg {
	case 0x01, 0x04:
		family = "ed25519"
	case 0x06:
		family = "ml-dsa-44"
	}
	id := family + ":" + string(key)
	if prev, ok := seen[id]; ok {
		return fmt.Errorf("%s has the same public key as %s", who, prev)
	}
	seen[id] = who
	return nil
}

func policyURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("URL %q is not an absolute http or https URL", s)
	}
	return s, nil
}

// Log returns the policy's first log whose key name is origin.
func (p *Policy) Log(origin string) (Log, bool) {
	if ls := p.LogKeys(origin); len(ls) > 0 {
		return ls[0], true
	}
	return Log{}, false
}

// LogKeys returns every log line whose key name is origin, in order: a
// policy names two keys for one log while the log rotates its key, and a
// checkpoint signed by any of them is the log's.
func (p *Policy) LogKeys(origin string) []Log {
	var out []Log
	for _, l := range p.Logs {
		if l.Verifier.Name() == origin {
			out = append(out, l)
		}
	}
	return out
}

// Satisfied reports whether the named witnesses meet the quorum.
func (p *Policy) Satisfied(witnesses []string) bool {
	if p.quorum == nil {
		return true
	}
	cosigned := make([]bool, len(p.Witnesses))
	for i, w := range p.Witnesses {
		cosigned[i] = slices.Contains(witnesses, w.Name)
	}
	return p.quorum.satisfied(cosigned)
}

// A Cosignature is a verified witness cosignature.
type Cosignature struct {
	// Witness is the policy's name for the witness.
	Witness string
	// KeyName is the witness key's name.
	KeyName string
	// Time is the cosignature's timestamp.
	Time time.Time
}

// A Verified is a checkpoint verified under a policy.
type Verified struct {
	Checkpoint flog.Checkpoint
	// Extensions are the checkpoint's extension lines, each ending in a
	// newline: opaque here, for the caller to read those it knows.
	Extensions []byte
	// Cosignatures are the valid cosignatures of the policy's witnesses.
	Cosignatures []Cosignature
}

// A QuorumError reports a checkpoint whose valid cosignatures do not meet
// the policy's quorum: it may be a view of the log that the witnesses have
// not seen (a split view), or the log could not reach its witnesses.
type QuorumError struct {
	Quorum    string
	Cosigners []string // the policy's witnesses that did cosign
}

func (e *QuorumError) Error() string {
	if len(e.Cosigners) == 0 {
		return fmt.Sprintf("checkpoint has no cosignature from the policy's witnesses; quorum %q is not met", e.Quorum)
	}
	return fmt.Sprintf("checkpoint is cosigned only by %s; quorum %q is not met", strings.Join(e.Cosigners, ", "), e.Quorum)
}

// VerifyCheckpoint verifies a signed checkpoint under the policy: it must
// be signed by the policy's log whose key name is its origin, every
// signature by a key the policy knows (log or witness) must verify (one
// bad signature rejects the note), signatures by unknown keys are
// ignored, and the witnesses with a valid cosignature must meet the
// quorum. Signature failures are *CheckpointError, a missing quorum is
// *QuorumError.
func (p *Policy) VerifyCheckpoint(signed []byte) (*Verified, error) {
	origin, _, ok := bytes.Cut(signed, []byte("\n"))
	if !ok {
		return nil, &CheckpointError{Err: errors.New("not a checkpoint: no origin line")}
	}
	logKeys := p.LogKeys(string(origin))
	if len(logKeys) == 0 {
		return nil, &CheckpointError{Err: fmt.Errorf("origin %q is not a log of the policy", origin)}
	}
	var verifiers []note.Verifier
	for _, l := range logKeys {
		verifiers = append(verifiers, l.Verifier)
	}
	for _, w := range p.Witnesses {
		verifiers = append(verifiers, w.Verifier)
	}
	n, err := note.Open(signed, note.VerifierList(verifiers...))
	if err != nil {
		return nil, &CheckpointError{Err: err}
	}
	var logSigned bool
	cosigned := make([]bool, len(p.Witnesses))
	var res Verified
	for _, s := range n.Sigs {
		if slices.ContainsFunc(logKeys, func(l Log) bool { return s.Name == l.Verifier.Name() && s.Hash == l.Verifier.KeyHash() }) {
			logSigned = true
			continue
		}
		for i, w := range p.Witnesses {
			if s.Name == w.Verifier.Name() && s.Hash == w.Verifier.KeyHash() && !cosigned[i] {
				cosigned[i] = true
				t, err := fnote.CoSigV1Timestamp(s)
				if err != nil {
					return nil, &CheckpointError{Err: fmt.Errorf("cosignature of %s: %w", w.Name, err)}
				}
				res.Cosignatures = append(res.Cosignatures, Cosignature{Witness: w.Name, KeyName: s.Name, Time: t})
			}
		}
	}
	if !logSigned {
		return nil, &CheckpointError{Err: fmt.Errorf("no signature by a log key of %q", origin)}
	}
	// Extension lines (an fwledger log's revocation commitment) are
	// opaque here: the caller reads those it knows.
	ext, err := res.Checkpoint.Unmarshal([]byte(n.Text))
	if err != nil {
		return nil, &CheckpointError{Err: err}
	}
	if err := checkExtensions(ext); err != nil {
		return nil, &CheckpointError{Err: err}
	}
	res.Extensions = ext
	if len(res.Checkpoint.Hash) != sha256.Size {
		return nil, &CheckpointError{Err: fmt.Errorf("root hash is %d bytes, want %d", len(res.Checkpoint.Hash), sha256.Size)}
	}
	if p.quorum != nil && !p.quorum.satisfied(cosigned) {
		e := &QuorumError{Quorum: p.Quorum}
		for _, c := range res.Cosignatures {
			e.Cosigners = append(e.Cosigners, c.Witness)
		}
		return nil, e
	}
	return &res, nil
}
