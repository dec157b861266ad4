package tlogpolicy_test

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/tlogpolicy"
)

// A device parses the witness policy it was provisioned with, and holds a
// checkpoint to it: this one, from a bundle, is signed by the log but
// cosigned by none of the witnesses, so the quorum is not met.
func ExamplePolicy_VerifyCheckpoint() {
	text, err := os.ReadFile("../testdata/witness-policy.txt")
	if err != nil {
		panic(err)
	}
	p, err := tlogpolicy.Parse(text)
	if err != nil {
		panic(err)
	}
	var names []string
	for _, w := range p.Witnesses {
		names = append(names, w.Name)
	}
	fmt.Printf("%d log, witnesses %s, quorum %s\n", len(p.Logs), strings.Join(names, " "), p.Quorum)

	data, err := os.ReadFile("../testdata/fw.bundle")
	if err != nil {
		panic(err)
	}
	b, err := bundle.Parse(data)
	if err != nil {
		panic(err)
	}
	_, err = p.VerifyCheckpoint(b.Checkpoint())
	var qe *tlogpolicy.QuorumError
	fmt.Println(errors.As(err, &qe), err)

	// The same log with no witnesses required.
	logLine, _, _ := strings.Cut(string(text), "\n")
	none, err := tlogpolicy.Parse([]byte(logLine + "\nquorum none\n"))
	if err != nil {
		panic(err)
	}
	v, err := none.VerifyCheckpoint(b.Checkpoint())
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Checkpoint.Origin, v.Checkpoint.Size)
	// Output:
	// 1 log, witnesses w0 w1 w2, quorum quorum-group
	// true checkpoint has no cosignature from the policy's witnesses; quorum "quorum-group" is not met
	// example.com/testlog 5
}

// A policy that does not follow C2SP tlog-policy is refused with the line
// at fault.
func ExampleParse() {
	_, err := tlogpolicy.Parse([]byte("group g 2 a b\nquorum g\n"))
	var pe *tlogpolicy.ParseError
	fmt.Println(errors.As(err, &pe), pe.Line)
	fmt.Println(err)
	// Output:
	// true 1
	// invalid witness policy: line 1: group "g" names "a", which is not defined on an earlier line
}
