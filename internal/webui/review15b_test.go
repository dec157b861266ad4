package webui

import (
	"fmt"
	"testing"
)

// TestReview15bRevealBlankLookalikes: Reveal now promises that text from
// an entry cannot "make one value look like another", but it passes
// U+2800 BRAILLE PATTERN BLANK (category So) and every space separator
// but U+0020 (category Zs is taken as visible), all of which show as
// blank or as an ordinary space. Free-text fields (a source repository,
// builder.id, image or subject name, certificate identity) can end in
// one and read exactly as the value without it, or hold one where a
// reader sees nothing or a plain space ("acme/\u200afw"). U+2800 is not
// even white space, so the lookup keys' TrimSpace keeps it (explorer's
// TestReview15bBlankRepoHidesDisagreement).
func TestReview15bRevealBlankLookalikes(t *testing.T) {
	for _, r := range []rune{0x2800, 0x3000, 0x00A0, 0x2007, 0x200A, 0x205F, 0x202F} {
		in := fmt.Sprintf("git+https://git.example.com/acme/fw%c", r)
		if got := Reveal(in); got == in {
			t.Errorf("Reveal(%q) = %q: U+%04X shows as a blank, so the value reads as the repository without it", in, got, r)
		}
	}
}
