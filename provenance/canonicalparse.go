package provenance

import (
	"bytes"
	"encoding/base64"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// parseCanonical parses data if it is a DSSE envelope in the canonical
// encoding whose strings encoding/json writes byte for byte (printable
// ASCII without '"', '\\', '<', '>' or '&'; base64 needs none of them), with
// the payload type, at most MaxSignatures signatures, and nothing empty. Such
// an envelope is what every submitter that follows docs/FORMATS.md sends,
// and one pass over it replaces the strict JSON check, the decode and the
// re-encoding that CheckCanonical would compare. It returns false for
// anything else, whether valid or not: parseEnvelope and CheckCanonical
// then decide, and name what is wrong. FuzzParseCanonical holds the two
// paths to the same result.
func parseCanonical(data []byte, payloadType string) (*Envelope, bool) {
	p := canonicalScanner{data: data}
	var env dsse.Envelope
	var body []byte
	var ok bool
	if !p.lit(`{"payloadType":"`) {
		return nil, false
	}
	if env.PayloadType, ok = p.str(); !ok || env.PayloadType != payloadType {
		return nil, false
	}
	if !p.lit(`","payload":"`) {
		return nil, false
	}
	if env.Payload, body, ok = p.base64(); !ok {
		return nil, false
	}
	if !p.lit(`","signatures":[`) {
		return nil, false
	}
	for {
		var s dsse.Signature
		if !p.lit(`{"keyid":"`) {
			return nil, false
		}
		if s.KeyID, ok = p.str(); !ok {
			return nil, false
		}
		if !p.lit(`","sig":"`) {
			return nil, false
		}
		if s.Sig, _, ok = p.base64(); !ok {
			return nil, false
		}
		if !p.lit(`"}`) {
			return nil, false
		}
		if n := len(env.Signatures); n > 0 {
			prev := env.Signatures[n-1]
			if c := strings.Compare(prev.KeyID, s.KeyID); c > 0 || c == 0 && prev.Sig >= s.Sig {
				return nil, false // out of order, or twice
			}
		}
		if env.Signatures = append(env.Signatures, s); len(env.Signatures) > MaxSignatures {
			return nil, false
		}
		if p.lit(`]}`) {
			break
		}
		if !p.lit(`,`) {
			return nil, false
		}
	}
	if len(p.data) != 0 {
		return nil, false
	}
	// A copy: the caller may reuse data once it is parsed.
	return &Envelope{Envelope: env, Body: body, canonical: bytes.Clone(data)}, true
}

// canonicalScanner consumes the front of data.
type canonicalScanner struct {
	data []byte
}

// lit consumes s if data starts with it.
func (p *canonicalScanner) lit(s string) bool {
	if len(p.data) < len(s) || string(p.data[:len(s)]) != s {
		return false
	}
	p.data = p.data[len(s):]
	return true
}

// str consumes the rest of a JSON string, up to its closing quote (which
// it leaves), if encoding/json writes every byte of it as it is.
func (p *canonicalScanner) str() (string, bool) {
	for i, c := range p.data {
		switch {
		case c == '"':
			s := string(p.data[:i])
			p.data = p.data[i:]
			return s, true
		case c < 0x20 || c > 0x7e || c == '\\' || c == '<' || c == '>' || c == '&':
			return "", false
		}
	}
	return "", false
}

// base64 consumes a non-empty JSON string of standard, padded base64 that
// is the only encoding of the bytes it decodes to (no bits set in the
// padding), up to its closing quote.
func (p *canonicalScanner) base64() (string, []byte, bool) {
	end := bytes.IndexByte(p.data, '"')
	if end <= 0 {
		return "", nil, false
	}
	s := p.data[:end]
	for _, c := range s {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return "", nil, false // also the newlines base64 would skip
		}
	}
	dec := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Strict().Decode(dec, s)
	if err != nil {
		return "", nil, false
	}
	p.data = p.data[end:]
	return string(s), dec[:n], true
}
