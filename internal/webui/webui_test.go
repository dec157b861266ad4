package webui

import "testing"

// TestReveal: control and format characters and invalid bytes are written
// out; RevealText keeps line feeds, and only them.
func TestReveal(t *testing.T) {
	for _, tc := range []struct {
		in, reveal, text string
	}{
		{"plain <b>text</b>", "plain <b>text</b>", "plain <b>text</b>"},
		{"abc\u202edef", "abc⟨U+202E⟩def", "abc⟨U+202E⟩def"},
		{"a\nb", "a⟨U+000A⟩b", "a\nb"},
		{"a\r\nb", "a⟨U+000D⟩⟨U+000A⟩b", "a⟨U+000D⟩\nb"},
		{"tab\there", "tab⟨U+0009⟩here", "tab⟨U+0009⟩here"},
		{"zero\u200bwidth\x00", "zero⟨U+200B⟩width⟨U+0000⟩", "zero⟨U+200B⟩width⟨U+0000⟩"},
		{"bad \xff byte", "bad ⟨invalid⟩ byte", "bad ⟨invalid⟩ byte"},
		{"\u2066isolate\u2069", "⟨U+2066⟩isolate⟨U+2069⟩", "⟨U+2066⟩isolate⟨U+2069⟩"},
		{"— em dash, é, 日本", "— em dash, é, 日本", "— em dash, é, 日本"},
	} {
		if got := Reveal(tc.in); got != tc.reveal {
			t.Errorf("Reveal(%q) = %q, want %q", tc.in, got, tc.reveal)
		}
		if got := RevealText(tc.in); got != tc.text {
			t.Errorf("RevealText(%q) = %q, want %q", tc.in, got, tc.text)
		}
	}
}
