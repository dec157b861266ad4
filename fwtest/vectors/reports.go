package vectors

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/report"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// reportSeeds adds the seed corpora of package report's fuzz targets:
// reports of every outcome by fwtest.Device1 (Ed25519 signatures and the
// payload's encoding are deterministic), mutated ones that must fail, and
// device key files.
func reportSeeds(t *seedTB, corpus func(pkg, target, name string, data []byte)) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	img := sha256.Sum256(Image)
	cp := fwtest.SignCheckpoint(t, fwtest.LogKey, 5, bytes.Repeat([]byte{7}, 32))
	reports := map[string]*report.Report{
		"refused-rollback": {Model: "acme-x1", Channel: "stable", Outcome: report.Refused, Reason: report.Rollback,
			Detail: "security version 6 is below the floor 7", Image: img, Version: "1.3.9", SecurityVersion: 6, LogIndex: 3, HasRelease: true,
			Checkpoint: cp, Time: at},
		"installed": {Model: "acme-x1", Channel: "stable", Outcome: report.Installed, Image: img, Version: "1.4.0", SecurityVersion: 7, LogIndex: 3,
			HasRelease: true, Checkpoint: cp, Time: at, InstallMillis: 93000, HasInstallTime: true},
		"confirmed": {Model: "acme-x1", Channel: "stable", Outcome: report.Confirmed, Image: img, Version: "1.4.0", SecurityVersion: 7, LogIndex: 3,
			HasRelease: true, Checkpoint: cp, Time: at.Add(90 * time.Second)},
		"reverted": {Model: "acme-x1", Channel: "stable", Outcome: report.Reverted, Reason: report.Error, Detail: "watchdog reset during the trial boot",
			Image: img, Version: "1.4.0", SecurityVersion: 7, LogIndex: 3, HasRelease: true, Checkpoint: cp, Time: at, InstallMillis: 120500, HasInstallTime: true},
		"fresh-device-transport": {Model: "acme-x1", Channel: "beta", Outcome: report.Refused, Reason: report.Transport, Image: img,
			Time: at.Add(1500 * time.Millisecond)},
	}
	var good []byte
	for name, r := range reports {
		env := fwtest.SignReport(t, fwtest.Device1, r)
		corpus("report", "FuzzParse", name, env)
		e, err := report.Parse(env)
		if err != nil {
			panic(err)
		}
		corpus("report", "FuzzParsePayload", name, e.Payload)
		if name == "refused-rollback" {
			good = env
		}
	}
	var de dsse.Envelope
	if err := json.Unmarshal(good, &de); err != nil {
		panic(err)
	}
	body, _ := base64.StdEncoding.DecodeString(de.Payload)
	flipped := bytes.Clone(body)
	flipped[bytes.Index(flipped, []byte(`"logIndex":3`))+len(`"logIndex":`)] = '4'
	corpus("report", "FuzzParse", "payload-changed", bytes.Replace(good, []byte(de.Payload), []byte(base64.StdEncoding.EncodeToString(flipped)), 1))
	corpus("report", "FuzzParse", "trailing-newline", append(bytes.Clone(good), '\n'))
	corpus("report", "FuzzParse", "in-toto-payload-type", must(fwtest.MakeEnvelope(body, fwtest.Device1)))
	corpus("report", "FuzzParse", "signed-by-another-device", fwtest.SignTyped(t, report.PayloadType, body, fwtest.Device2))
	for name, p := range map[string]string{
		"unknown-field": `{"device":"x","firmware":1}`,
		"null-detail":   `{"detail":null}`,
		"negative":      `{"securityVersion":-1}`,
	} {
		corpus("report", "FuzzParsePayload", name, []byte(p))
	}
	vkey := func(k *keys.PrivateKey) string {
		return string(must(func() ([]byte, error) { v, err := k.Public().VerifierKey(); return []byte(v), err }()))
	}
	corpus("report", "FuzzParseDevices", "two-devices", []byte(fmt.Sprintf("# acme-x1 fleet\n%s\n\n  # batch 2\n\t%s  \n", vkey(fwtest.Device1), vkey(fwtest.Device2))))
	corpus("report", "FuzzParseDevices", "twice", []byte(vkey(fwtest.Device1)+"\n"+vkey(fwtest.Device1)+"\n"))
}
