package ingest

import "errors"

// Sentinel errors of package ingest. Compare with errors.Is.
var (
	// ErrServerNotReady is returned by StartServer when the embedded server
	// does not accept connections within ServerOptions.ReadyTimeout.
	ErrServerNotReady = errors.New("ingest: embedded NATS server not ready")

	// ErrLedger wraps every ledger failure that stopped the ingester. The
	// messages of the batch that failed were not acknowledged and will be
	// delivered again.
	ErrLedger = errors.New("ingest: ledger failure")
)
