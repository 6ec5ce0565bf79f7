package audit

import "errors"

// Sentinel errors of the audit. Compare with errors.Is.
var (
	// ErrInvalidOptions is wrapped by Run when Options.Validate refuses the
	// options; the message says which field is wrong.
	ErrInvalidOptions = errors.New("audit: invalid options")

	// ErrInvalidThresholds is wrapped by every error about thresholds: an
	// unknown cause, a rate outside [0, 1], a malformed rule or file.
	ErrInvalidThresholds = errors.New("audit: invalid thresholds")
)
