package report_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/report"
)

// A device signs the outcome of an update with its own key; the log (or an
// auditor) verifies it with the device's public key.
func Example() {
	ctx := context.Background()
	// fwdevice init: keys.Generate(nil, name), from crypto/rand; here from
	// a fixed seed, for a fixed output.
	dev, err := keys.Generate(strings.NewReader("a fixed seed of exactly 32 bytes"), "dev-0001.acme.example")
	if err != nil {
		panic(err)
	}
	env, err := report.Sign(ctx, dev, &report.Report{
		Model: "acme-x1", Channel: "stable", Outcome: report.Refused, Reason: report.Rollback,
		Detail: "security version 6 is below the floor 7",
		Image:  sha256.Sum256([]byte("image")), Version: "1.3.9", SecurityVersion: 6, LogIndex: 41, HasRelease: true,
		Time: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
	})
	if err != nil {
		panic(err)
	}

	devices, err := report.NewDevices(dev.Public())
	if err != nil {
		panic(err)
	}
	e, err := report.Parse(env)
	if err != nil {
		panic(err)
	}
	r, err := e.VerifyDevice(ctx, devices)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: %s (%s) %s\n", r.Device[:8], r.Outcome, r.Reason, r.Detail)
	fmt.Printf("%s\n", e.Payload)

	other, _ := keys.Generate(nil, "dev-0002.acme.example")
	stranger, _ := report.Sign(ctx, other, &report.Report{
		Model: "acme-x1", Channel: "stable", Outcome: report.Refused, Reason: report.Transport,
		Image: sha256.Sum256([]byte("image")), Time: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
	})
	e, _ = report.Parse(stranger)
	_, err = e.VerifyDevice(ctx, devices)
	fmt.Println(err != nil)
	// Output:
	// b7d88446: refused (rollback) security version 6 is below the floor 7
	// {"device":"b7d8844639b15141f77988eab92e38e29437e81fe72078931524112baa85c112","model":"acme-x1","channel":"stable","outcome":"refused","reason":"rollback","detail":"security version 6 is below the floor 7","image":"sha256:6105d6cc76af400325e94d588ce511be5bfdbb73b437dc51eca43917d7a43e3d","version":"1.3.9","securityVersion":6,"logIndex":41,"time":"2026-11-27T10:00:00Z"}
	// true
}
