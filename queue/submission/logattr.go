package submission

import "strings"

// wordList is a []string as a log attribute value. slog's text handler
// prints a []string with fmt's %+v, which walks it by reflection, once per
// accepted message; wordList prints the same text ("[a b]") through
// String, and JSON handlers still see a []string (an array).
type wordList []string

func (l wordList) String() string {
	return "[" + strings.Join(l, " ") + "]"
}
