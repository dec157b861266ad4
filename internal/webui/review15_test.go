package webui

import (
	"fmt"
	"testing"
)

// TestReview15RevealInvisible: Reveal writes out categories Cc and Cf
// only, but Unicode has invisible (default-ignorable) characters in other
// categories: U+034F COMBINING GRAPHEME JOINER and the variation selectors
// (Mn), the Hangul fillers (Lo), Mongolian free variation selectors (Mn),
// Khmer inherent vowels (Mn). Inserted into a commit, a builder.id, a
// source repository, a subject or image name, they make one value look
// exactly like another on every page (the lookups and comparisons still
// see them), e.g. a rogue build "of the same commit" that no page calls a
// disagreeing rebuild (explorer's TestReview15CommitVariantHidesDisagreement).
func TestReview15RevealInvisible(t *testing.T) {
	for _, r := range []rune{0x034F, 0xFE00, 0xFE0F, 0xE0100, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F} {
		in := fmt.Sprintf("0123%cabcd", r)
		if got := Reveal(in); got == in {
			t.Errorf("Reveal leaves invisible U+%04X in %q", r, in)
		}
	}
}
