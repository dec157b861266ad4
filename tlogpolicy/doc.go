// Package tlogpolicy parses C2SP tlog-policy files (https://c2sp.org/tlog-policy)
// and verifies signed checkpoints under them: signed by one of the policy's
// logs, with no bad signature from any key the policy names, and cosigned by
// a quorum of its witnesses. It also verifies a checkpoint under one log key
// alone. It is pure: no network, no files, no cgo.
//
// A policy names logs and witnesses, groups them, and sets the quorum:
//
//	log example.com/fwlog+3f1d5a7c+AR... http://127.0.0.1:8080
//	witness a witness-a.example.org+58b0f2a1+BO... http://127.0.0.1:8181
//	witness b witness-b.example.org+a1c2e3d4+BF... http://127.0.0.1:8182
//	witness c witness-c.example.org+0ff1ce00+BA... http://127.0.0.1:8183
//	group two-of-three 2 a b c
//	quorum two-of-three
//
// Every rejection is typed: a policy that does not parse is a [*ParseError],
// a checkpoint whose signatures fail is a [*CheckpointError] (which names the
// key expected and the keys that signed), and one the witnesses did not
// cosign enough is a [*QuorumError].
package tlogpolicy
