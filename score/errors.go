package score

import "errors"

// Sentinel errors of package score. Compare with errors.Is.
var (
	// ErrNotReady is returned by Online.View until the online state has
	// been rebuilt from the ledger at start.
	ErrNotReady = errors.New("score: online state not ready")

	// ErrLedger wraps a ledger failure met while rebuilding the online
	// state. It stops Online.Run.
	ErrLedger = errors.New("score: ledger failure")

	// ErrNoModels is returned by NewService when it is given no model.
	ErrNoModels = errors.New("score: no model")

	// ErrDuplicateModel is returned by NewService and LoadModels when two
	// models share a name: they would answer on one subject.
	ErrDuplicateModel = errors.New("score: two models with one name")

	// errConsumeEnded tells Online.Run that its subscription ended (the
	// consumer was deleted, or the connection closed) and must be started
	// again.
	errConsumeEnded = errors.New("score: online consumer subscription ended")
)
