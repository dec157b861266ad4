package provenance

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/internal/strictjson"
	"github.com/fwledger/fwledger/keys"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
)

// Supply-chain layouts: a vendor's in-toto layout (the steps of a pipeline,
// who may perform each, the artifact rules between them) and the link
// metadata each step's functionary signed. They are logged as their exact
// bytes, in the in-toto metadata form ({"signed": …, "signatures": […]}),
// and verified in memory with in-toto-golang's verification steps. Layout
// inspections are never run: fwledger does not execute commands while it
// verifies, so a layout with inspections is refused.

// KindLayout and KindLink are in-toto supply-chain metadata.
const (
	KindLayout Kind = "layout"
	KindLink   Kind = "link"
)

// parseMetablock parses in-toto metadata in the classic form: data is the
// whole object, signed and signatures its two members as ParseEntry's probe
// found them.
func parseMetablock(data []byte, signed, signatures json.RawMessage) (*intoto.Metablock, error) {
	if err := strictjson.Check(data); err != nil {
		return nil, &EnvelopeError{Err: err}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, &EnvelopeError{Err: err}
	}
	if len(top) != 2 || signatures == nil {
		return nil, &EnvelopeError{Err: errors.New(`in-toto metadata has exactly the fields "signed" and "signatures"`)}
	}
	mb := &intoto.Metablock{}
	if err := json.Unmarshal(signatures, &mb.Signatures); err != nil {
		return nil, &EnvelopeError{Err: fmt.Errorf("in-toto signatures: %w", err)}
	}
	if len(mb.Signatures) == 0 || len(mb.Signatures) > MaxSignatures {
		return nil, &EnvelopeError{Err: fmt.Errorf("in-toto metadata has %d signatures, want 1 to %d", len(mb.Signatures), MaxSignatures)}
	}
	var typ struct {
		Type string `json:"_type"`
	}
	if err := json.Unmarshal(signed, &typ); err != nil {
		return nil, &StatementError{Err: err}
	}
	dec := json.NewDecoder(bytes.NewReader(signed))
	dec.DisallowUnknownFields()
	switch typ.Type {
	case "layout":
		var l intoto.Layout
		if err := dec.Decode(&l); err != nil {
			return nil, &StatementError{Err: fmt.Errorf("in-toto layout: %w", err)}
		}
		mb.Signed = l
	case "link":
		var l intoto.Link
		if err := dec.Decode(&l); err != nil {
			return nil, &StatementError{Err: fmt.Errorf("in-toto link: %w", err)}
		}
		mb.Signed = l
	default:
		return nil, &StatementError{Err: fmt.Errorf("in-toto metadata _type is %q, want layout or link", typ.Type)}
	}
	if l, ok := mb.Signed.(intoto.Layout); ok {
		if err := checkRules(l); err != nil {
			return nil, &StatementError{Err: fmt.Errorf("invalid in-toto layout: %w", err)}
		}
	}
	if err := validateMetablock(mb); err != nil {
		return nil, &StatementError{Err: fmt.Errorf("invalid in-toto metadata: %w", err)}
	}
	return mb, nil
}

// checkRules refuses an empty artifact rule, on which in-toto-golang's
// validation indexes past the end and panics (FuzzParseEntry found it).
func checkRules(l intoto.Layout) error {
	items := make([]intoto.SupplyChainItem, 0, len(l.Steps)+len(l.Inspect))
	for _, st := range l.Steps {
		items = append(items, st.SupplyChainItem)
	}
	for _, in := range l.Inspect {
		items = append(items, in.SupplyChainItem)
	}
	for _, it := range items {
		for _, rules := range [][][]string{it.ExpectedMaterials, it.ExpectedProducts} {
			for i, r := range rules {
				if len(r) == 0 {
					return fmt.Errorf("%q: artifact rule %d is empty", it.Name, i)
				}
			}
		}
	}
	return nil
}

// validateMetablock is in-toto-golang's validation, with any panic of
// its on hostile input turned into an error: every byte of an entry comes
// from the network.
func validateMetablock(mb *intoto.Metablock) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("in-toto-golang could not validate it: %v", r)
		}
	}()
	return intoto.ValidateMetablock(*mb)
}

// Layout returns the in-toto layout of a layout entry.
func (e *Entry) Layout() intoto.Layout { return e.Metablock.Signed.(intoto.Layout) }

// Link returns the in-toto link of a link entry.
func (e *Entry) Link() intoto.Link { return e.Metablock.Signed.(intoto.Link) }

// intotoKey converts a public key to in-toto's key form; its key ID is the
// same securesystemslib key ID.
func intotoKey(p *keys.PublicKey) (intoto.Key, error) {
	k, err := p.SSLib()
	if err != nil {
		return intoto.Key{}, err
	}
	return intoto.Key{
		KeyID: k.KeyID, KeyIDHashAlgorithms: k.KeyIDHashAlgorithms, KeyType: k.KeyType, Scheme: k.Scheme,
		KeyVal: intoto.KeyVal{Public: k.KeyVal.Public},
	}, nil
}

// A LayoutError reports a supply-chain layout or its links failing
// verification.
type LayoutError struct{ Err error }

func (e *LayoutError) Error() string { return "in-toto layout verification failed: " + e.Err.Error() }
func (e *LayoutError) Unwrap() error { return e.Err }

// VerifyLayout verifies an in-toto supply chain for an image: the layout is
// signed by every key in layoutKeys and not expired at now; for every step,
// enough links signed by the step's authorized functionaries agree; the
// steps' artifact rules hold; and the image (by SHA-256) is among the
// products of productStep (the layout's last step when empty). Layouts with
// inspections or sublayouts are refused: verification never runs commands.
func VerifyLayout(layout *Entry, links []*Entry, layoutKeys []*keys.PublicKey, image digest.Digest, productStep string, now time.Time) error {
	if err := verifyLayout(layout, links, layoutKeys, image, productStep, now); err != nil {
		return &LayoutError{Err: err}
	}
	return nil
}

func verifyLayout(layout *Entry, links []*Entry, layoutKeys []*keys.PublicKey, image digest.Digest, productStep string, now time.Time) error {
	if layout == nil || layout.Kind != KindLayout {
		return errors.New("no layout")
	}
	if len(layoutKeys) == 0 {
		return errors.New("no layout keys")
	}
	lk := map[string]intoto.Key{}
	for _, p := range layoutKeys {
		k, err := intotoKey(p)
		if err != nil {
			return err
		}
		lk[k.KeyID] = k
	}
	if err := intoto.VerifyLayoutSignatures(layout.Metablock, lk); err != nil {
		return fmt.Errorf("layout signature: %w", err)
	}
	l := layout.Layout()
	expires, err := time.Parse(intoto.ISO8601DateSchema, l.Expires)
	if err != nil {
		return fmt.Errorf("layout expiry %q: %w", l.Expires, err)
	}
	if now.After(expires) {
		return fmt.Errorf("the layout expired at %s", l.Expires)
	}
	if len(l.Inspect) > 0 {
		return fmt.Errorf("the layout has %d inspection(s); fwledger never runs commands while verifying, so layouts with inspections are not supported", len(l.Inspect))
	}
	if len(l.Steps) == 0 {
		return errors.New("the layout has no steps")
	}
	if len(l.RootCas) > 0 {
		return errors.New("layouts with certificate-constrained functionaries are not supported")
	}
	stepsMetadata := map[string]map[string]intoto.Metadata{}
	for _, e := range links {
		if e.Kind != KindLink {
			return fmt.Errorf("a %s among the links", e.Kind)
		}
		link := e.Link()
		for _, sig := range e.Metablock.Signatures {
			if stepsMetadata[link.Name] == nil {
				stepsMetadata[link.Name] = map[string]intoto.Metadata{}
			}
			stepsMetadata[link.Name][sig.KeyID] = e.Metablock
		}
	}
	verified, err := intoto.VerifyLinkSignatureThesholds(l, stepsMetadata, nil, nil)
	if err != nil {
		return err
	}
	reduced, err := intoto.ReduceStepsMetadata(l, verified)
	if err != nil {
		return err
	}
	items := make([]interface{}, len(l.Steps))
	for i := range l.Steps {
		items[i] = l.Steps[i]
	}
	if err := intoto.VerifyArtifacts(items, reduced); err != nil {
		return err
	}
	if productStep == "" {
		productStep = l.Steps[len(l.Steps)-1].Name
	}
	md, ok := reduced[productStep]
	if !ok {
		return fmt.Errorf("the layout has no step %q", productStep)
	}
	want := hex.EncodeToString(image[:])
	var products []string
	for path, h := range md.GetPayload().(intoto.Link).Products {
		if h["sha256"] == want {
			return nil
		}
		products = append(products, path)
	}
	slices.Sort(products)
	return fmt.Errorf("the image %s is not among the products of step %q (%v)", image, productStep, products)
}

// LayoutSigners returns the keys among candidates that validly signed the
// layout entry.
func LayoutSigners(layout *Entry, candidates []*keys.PublicKey) []*keys.PublicKey {
	var out []*keys.PublicKey
	for _, p := range candidates {
		k, err := intotoKey(p)
		if err != nil {
			continue
		}
		if layout.Metablock.VerifySignature(k) == nil {
			out = append(out, p)
		}
	}
	return out
}

// VerifyLayoutSignature checks that a layout entry is signed by at least one
// of keys.
func VerifyLayoutSignature(layout *Entry, keys []*keys.PublicKey) error {
	if len(LayoutSigners(layout, keys)) == 0 {
		return &LayoutError{Err: errors.New("the layout is not signed by a layout key this log accepts")}
	}
	return nil
}
