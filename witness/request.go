package witness

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
)

// Limits of an add-checkpoint request.
const (
	// MaxProofLines is the most consistency proof lines a request may
	// carry (C2SP tlog-witness).
	MaxProofLines = 63
	// MaxRequestSize bounds an add-checkpoint request body: the old size
	// line, 63 proof lines and a checkpoint with a few signatures fit with
	// room to spare.
	MaxRequestSize = 16 << 10
)

// An AddCheckpointRequest is the body of a C2SP tlog-witness
// add-checkpoint request:
//
//	old 20852014
//	PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
//	jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
//
//	example.com/behind-the-sofa
//	20852163
//	CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//
//	— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
type AddCheckpointRequest struct {
	// OldSize is the size of the checkpoint the client believes the witness
	// last cosigned for the log (0 if none).
	OldSize uint64
	// Proof is the RFC 6962 consistency proof from OldSize to the
	// checkpoint's size; empty when OldSize is 0.
	Proof [][]byte
	// Checkpoint is the signed checkpoint, exactly as sent.
	Checkpoint []byte
}

// A BadRequestError reports a malformed request (HTTP 400).
type BadRequestError struct{ Msg string }

func (e *BadRequestError) Error() string { return "bad add-checkpoint request: " + e.Msg }

func badRequest(format string, a ...any) error {
	return &BadRequestError{Msg: fmt.Sprintf(format, a...)}
}

// ParseAddCheckpoint parses an add-checkpoint request body strictly: an
// "old <size>" line in canonical decimal, at most MaxProofLines lines of
// one base64 hash of 32 bytes each, an empty line, and the checkpoint
// (every line newline-terminated). Errors are *BadRequestError.
func ParseAddCheckpoint(body []byte) (*AddCheckpointRequest, error) {
	if len(body) > MaxRequestSize {
		return nil, badRequest("body is larger than %d bytes", MaxRequestSize)
	}
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return nil, badRequest("no old size line")
	}
	// SPEC: The old size line MUST consist of the string `old`, a single
	// space (0x20), and the tree size of the previous checkpoint encoded
	// as an ASCII decimal with no leading zeroes (unless the size is
	// zero, in which case the encoding MUST be `0`).
	num, ok := bytes.CutPrefix(line, []byte("old "))
	if !ok {
		return nil, badRequest("first line %q is not \"old <size>\"", truncate(line))
	}
	old, err := parseDecimal(num)
	if err != nil {
		return nil, badRequest("old size %q: %v", truncate(num), err)
	}
	req := &AddCheckpointRequest{OldSize: old}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, badRequest("no empty line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		// SPEC: Each consistency proof line MUST encode a single hash in
		// base64. The client MUST NOT send more than 63 consistency proof
		// lines.
		if len(req.Proof) == MaxProofLines {
			return nil, badRequest("more than %d consistency proof lines", MaxProofLines)
		}
		h := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
		n, err := base64.StdEncoding.Strict().Decode(h, line)
		if err != nil || n != 32 {
			return nil, badRequest("proof line %d is not a base64 SHA-256 hash", len(req.Proof)+1)
		}
		req.Proof = append(req.Proof, h[:n])
	}
	if len(rest) == 0 {
		return nil, badRequest("no checkpoint after the empty line")
	}
	req.Checkpoint = rest
	return req, nil
}

// Marshal returns the request body.
func (r *AddCheckpointRequest) Marshal() []byte {
	b := fmt.Appendf(nil, "old %d\n", r.OldSize)
	for _, h := range r.Proof {
		b = base64.StdEncoding.AppendEncode(b, h)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, r.Checkpoint...)
}

// parseDecimal parses an ASCII decimal with no sign and no leading zeros.
func parseDecimal(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 1 && b[0] == '0' {
		return 0, fmt.Errorf("not a decimal without leading zeros")
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not a decimal number")
		}
	}
	return strconv.ParseUint(string(b), 10, 64)
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
