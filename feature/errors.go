package feature

import (
	"errors"
	"fmt"
)

// ErrInvalidSpec is matched (errors.Is) by every *SpecError, so a caller can
// tell a refused spec from a failure to read the file.
var ErrInvalidSpec = errors.New("feature: invalid spec")

// SpecError is one problem found in a spec file, at a 1-based line and column
// of the YAML source. ParseSpec returns a single *SpecError, or several joined
// with errors.Join (one per line, in file order); errors.As finds the first.
type SpecError struct {
	File string // the name given to ParseSpec, or the path given to LoadSpec
	Line int    // 1-based
	Col  int    // 1-based
	Msg  string // what is wrong, lowercase, no position
}

// Error returns "file:line:col: msg".
func (e *SpecError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Is reports whether target is ErrInvalidSpec.
func (e *SpecError) Is(target error) bool { return target == ErrInvalidSpec }
