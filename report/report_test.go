package report_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	fwdevice "github.com/fwledger/fwledger/device"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/report"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

var (
	device  = fwtest.Device1
	other   = fwtest.Device2
	image   = sha256.Sum256([]byte("image"))
	reportT = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
)

func checkpoint(t testing.TB) []byte {
	root := sha256.Sum256([]byte("root"))
	return fwtest.SignCheckpoint(t, fwtest.LogKey, 42, root[:])
}

func refused(t testing.TB) *report.Report {
	return &report.Report{
		Model: "acme-x1", Channel: "stable", Outcome: report.Refused, Reason: report.Rollback,
		Detail: "security version 6 is below the floor 7", Image: image,
		Version: "1.3.9", SecurityVersion: 6, LogIndex: 41, HasRelease: true,
		Checkpoint: checkpoint(t), Time: reportT,
	}
}

func TestSignVerify(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		desc string
		r    *report.Report
	}{
		{"refused", refused(t)},
		{"confirmed", &report.Report{Model: "acme-x1", Channel: "stable", Outcome: report.Confirmed, Image: image,
			Version: "1.4.0", SecurityVersion: 7, LogIndex: 42, HasRelease: true, Time: reportT, InstallMillis: 93000, HasInstallTime: true}},
		{"fresh device, transport failure", &report.Report{Model: "acme-x1", Channel: "beta", Outcome: report.Refused, Reason: report.Transport,
			Image: image, Time: reportT.Add(1500 * time.Millisecond)}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			env := fwtest.SignReport(t, device, tc.r)
			got, id, err := report.Verify(ctx, env, fwtest.Ring(t, other, device))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id != fwtest.KeyID(t, device) {
				t.Errorf("Verify signer = %s, want %s", id, fwtest.KeyID(t, device))
			}
			want := *tc.r
			want.Device = id
			if !got.Time.Equal(want.Time) {
				t.Errorf("time = %v, want %v", got.Time, want.Time)
			}
			got.Time, want.Time = time.Time{}, time.Time{}
			if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) {
				t.Errorf("Verify = %+v, want %+v", *got, want)
			}
			// The canonical encoding, as provenance writes it.
			var de dsse.Envelope
			if err := json.Unmarshal(env, &de); err != nil {
				t.Fatal(err)
			}
			if canon, err := provenance.CanonicalEnvelope(&de); err != nil || !bytes.Equal(canon, env) {
				t.Errorf("the envelope is not canonical: %v", err)
			}
		})
	}
}

func TestVerifyRefusals(t *testing.T) {
	ctx := context.Background()
	good := fwtest.SignReport(t, device, refused(t))
	var envelope dsse.Envelope
	if err := json.Unmarshal(good, &envelope); err != nil {
		t.Fatal(err)
	}
	body, _ := base64.StdEncoding.DecodeString(envelope.Payload)
	tampered := bytes.Replace(good, []byte(envelope.Payload), []byte(base64.StdEncoding.EncodeToString(bytes.Replace(body, []byte(`"logIndex":41`), []byte(`"logIndex":40`), 1))), 1)
	for _, tc := range []struct {
		desc string
		data []byte
		ring *keys.Ring
		want any
	}{
		{"unknown key", good, fwtest.Ring(t, other), new(*report.SignatureError)},
		{"tampered payload", tampered, fwtest.Ring(t, device), new(*report.SignatureError)},
		{"signed by another key that names the device", fwtest.SignTyped(t, report.PayloadType, body, other), fwtest.Ring(t, device, other), new(*report.FieldError)},
		{"other payload type", func() []byte {
			s, _ := device.DSSESigner()
			env, _ := provenance.Sign(ctx, body, s)
			return env
		}(), fwtest.Ring(t, device), new(*provenance.PayloadTypeError)},
		{"not canonical", append(bytes.Clone(good), '\n'), fwtest.Ring(t, device), new(*report.FieldError)},
		{"two signatures", func() []byte {
			var two dsse.Envelope
			json.Unmarshal(fwtest.SignTyped(t, report.PayloadType, body, other), &two)
			two.Signatures = append(two.Signatures, envelope.Signatures...)
			env, err := provenance.CanonicalEnvelope(&two)
			if err != nil {
				t.Fatal(err)
			}
			return env
		}(), fwtest.Ring(t, device, other), new(*report.FieldError)},
		{"too large", bytes.Repeat([]byte(" "), report.MaxSize+1), fwtest.Ring(t, device), new(*report.SizeError)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, _, err := report.Verify(ctx, tc.data, tc.ring)
			if err == nil || !errors.As(err, tc.want) {
				t.Errorf("Verify = %v, want a %T", err, tc.want)
			}
		})
	}
}

// TestParsePayloadNamesTheField holds every refusal of a payload to a
// *FieldError that names the field at fault.
func TestParsePayloadNamesTheField(t *testing.T) {
	good, err := (&report.Report{
		Device: fwtest.KeyID(t, device), Model: "acme-x1", Channel: "stable", Outcome: report.Refused, Reason: report.Rollback,
		Image: image, Version: "1.3.9", SecurityVersion: 6, LogIndex: 41, HasRelease: true, Checkpoint: checkpoint(t), Time: reportT,
	}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := report.ParsePayload(good); err != nil {
		t.Fatalf("ParsePayload(good) = %v", err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	set := func(k string, v any) []byte { return edit(func(m map[string]any) { m[k] = v }) }
	del := func(ks ...string) []byte {
		return edit(func(m map[string]any) {
			for _, k := range ks {
				delete(m, k)
			}
		})
	}
	for _, tc := range []struct {
		desc  string
		data  []byte
		field string
	}{
		{"not JSON", []byte("{"), "payload"},
		{"an array", []byte("[]"), "payload"},
		{"duplicate key", append(bytes.TrimSuffix(bytes.Clone(good), []byte("}")), `,"model":"acme-x2"}`...), "payload"},
		{"unknown field", set("firmware", "x"), "firmware"},
		{"null", set("detail", nil), "detail"},
		{"no device", del("device"), "device"},
		{"device not a key ID", set("device", "dev-0001"), "device"},
		{"device in capitals", set("device", strings.ToUpper(fwtest.KeyID(t, device))), "device"},
		{"bad model", set("model", "acme x1"), "model"},
		{"no channel", del("channel"), "channel"},
		{"bad outcome", set("outcome", "bricked"), "outcome"},
		{"refused without reason", del("reason"), "reason"},
		{"unknown reason", set("reason", "sunspots"), "reason"},
		{"reason for a success", edit(func(m map[string]any) { m["outcome"] = "installed" }), "reason"},
		{"empty detail", set("detail", ""), "detail"},
		{"long detail", set("detail", strings.Repeat("x", report.MaxDetail+1)), "detail"},
		{"detail with a newline", set("detail", "two\nlines"), "detail"},
		{"bad image", set("image", "sha256:00"), "image"},
		{"bad version", set("version", "1.4"), "version"},
		{"version without the rest", del("securityVersion", "logIndex"), "version"},
		{"success without release", edit(func(m map[string]any) {
			m["outcome"] = "confirmed"
			delete(m, "reason")
			delete(m, "version")
			delete(m, "securityVersion")
			delete(m, "logIndex")
		}), "version"},
		{"negative security version", set("securityVersion", -1), "securityVersion"},
		{"fractional log index", set("logIndex", 1.5), "logIndex"},
		{"security version as a string", set("securityVersion", "7"), "securityVersion"},
		{"log index beyond 2^53", set("logIndex", uint64(1)<<60), "logIndex"},
		{"checkpoint not a note", set("checkpoint", "example.com/testlog\n42\n"), "checkpoint"},
		{"checkpoint too long", set("checkpoint", strings.Repeat("x", report.MaxCheckpoint+1)), "checkpoint"},
		{"no time", del("time"), "time"},
		{"bad time", set("time", "yesterday"), "time"},
		{"install time of a refusal", set("installMs", 5), "installMs"},
		{"install time of days", edit(func(m map[string]any) {
			m["outcome"], m["installMs"] = "reverted", report.MaxInstallMillis+1
		}), "installMs"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := report.ParsePayload(tc.data)
			var fe *report.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("ParsePayload(%.80q) = %v, want a *FieldError naming %q", tc.data, err, tc.field)
			}
		})
	}
}

func TestSignRefusesAnotherDevice(t *testing.T) {
	r := refused(t)
	r.Device = fwtest.KeyID(t, other)
	if _, err := report.Sign(context.Background(), device, r); err == nil {
		t.Error("Sign of a report naming another device succeeded")
	}
}

func TestParseDevices(t *testing.T) {
	vkey := func(k *keys.PrivateKey) string {
		v, err := k.Public().VerifierKey()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	d, err := report.ParseDevices([]byte("# fleet\n\n  " + vkey(device) + "  \n\t# batch 2\n" + vkey(other)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 {
		t.Errorf("Len = %d, want 2", d.Len())
	}
	if _, ok := d.Lookup(fwtest.KeyID(t, other)); !ok {
		t.Errorf("Lookup(%s) found nothing", fwtest.KeyID(t, other))
	}
	priv, _ := device.MarshalPrivate()
	privLine, _, _ := bytes.Cut(priv, []byte("\n"))
	for _, tc := range []struct {
		desc, file, want string
	}{
		{"twice", vkey(device) + "\n" + vkey(device) + "\n", "line 2"},
		{"garbage", vkey(device) + "\nnot a key\n", "line 2"},
		{"private key", string(privLine) + "\n", "line 1"},
		{"PEM", "-----BEGIN PUBLIC KEY-----\n", "line 1"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := report.ParseDevices([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseDevices = %v, want an error naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "PRIVATE+KEY") || strings.Contains(err.Error(), string(privLine[20:])) {
				t.Errorf("the error quotes the private key: %v", err)
			}
		})
	}
}

func TestVerifyDevice(t *testing.T) {
	ctx := context.Background()
	d, err := report.NewDevices(device.Public())
	if err != nil {
		t.Fatal(err)
	}
	e, err := report.Parse(fwtest.SignReport(t, device, refused(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.VerifyDevice(ctx, d); err != nil {
		t.Errorf("VerifyDevice = %v", err)
	}
	e, err = report.Parse(fwtest.SignReport(t, other, refused(t)))
	if err != nil {
		t.Fatal(err)
	}
	var ue *report.UnknownDeviceError
	if _, err := e.VerifyDevice(ctx, d); !errors.As(err, &ue) || ue.Device != fwtest.KeyID(t, other) {
		t.Errorf("VerifyDevice of an unknown device = %v, want an *UnknownDeviceError naming it", err)
	}
}

// TestDeviceReasons holds the reasons of package device, by which a device
// classifies its refusals, to reasons a report can carry.
func TestDeviceReasons(t *testing.T) {
	for _, r := range []string{
		fwdevice.ReasonRollback, fwdevice.ReasonFreeze, fwdevice.ReasonSplitView, fwdevice.ReasonSignature, fwdevice.ReasonRevoked,
		fwdevice.ReasonProvenance, fwdevice.ReasonTarget, fwdevice.ReasonDigest, fwdevice.ReasonSize, fwdevice.ReasonTrust,
		fwdevice.ReasonBundle, fwdevice.ReasonCheckpoint, fwdevice.ReasonQuorum, fwdevice.ReasonInclusion, fwdevice.ReasonTransport,
		fwdevice.ReasonUnconfirmed, fwdevice.ReasonError,
	} {
		if !report.Reason(r).Valid() {
			t.Errorf("device reason %q is not a report reason", r)
		}
	}
}
