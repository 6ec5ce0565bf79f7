package ledger

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by the ledger. Compare with errors.Is.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("ledger: closed")

	// ErrNotFound is returned by the look-ups (Event, Snapshot, Record) when
	// nothing is stored under the key asked for.
	ErrNotFound = errors.New("ledger: not found")

	// ErrFormatTooNew is returned by Open when the data directory was written
	// by a newer version of asof whose format this version cannot read.
	ErrFormatTooNew = errors.New("ledger: format is newer than this version of asof")

	// ErrUnknownFormat is returned by Open when the directory holds a Pebble
	// database that is not an asof ledger, or whose format key is damaged.
	ErrUnknownFormat = errors.New("ledger: not an asof ledger or unknown format")

	// ErrFailed is returned by Append after an earlier sync to disk failed,
	// or when Open found the ledger's bookkeeping damaged. The ledger cannot
	// tell which batches survived such a failure, so it refuses further
	// writes; reads and Verify still work. The wrapped error says why.
	ErrFailed = errors.New("ledger: refusing writes after an earlier failure")

	// ErrEmptyBatch is returned by Append for a batch with no records and no
	// checkpoint.
	ErrEmptyBatch = errors.New("ledger: empty batch")
)

// ValidationError reports a record of a batch that Append refused. Nothing
// of the batch was written.
type ValidationError struct {
	Kind  string // "event" or "snapshot"
	Index int    // position of the record in its slice of the batch
	Field string // the field that is wrong, such as "entity"
	Msg   string // what is wrong with it
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("ledger: %s %d: %s: %s", e.Kind, e.Index, e.Field, e.Msg)
}

// CorruptionError reports one thing found wrong in the stored ledger: a
// record whose content hash does not match, a broken chain, an index entry
// that disagrees with the log, an undecodable value. Verify returns every
// finding, each as a CorruptionError; use errors.As to tell them from I/O
// errors.
type CorruptionError struct {
	Kind string // a short fixed name for the class of finding, such as "hash"
	Key  []byte // the Pebble key where it was found, if any
	Seq  uint64 // the ledger sequence involved, 0 when none
	Msg  string // what is wrong, for a person
}

func (e *CorruptionError) Error() string {
	s := "ledger: corruption (" + e.Kind + ")"
	if e.Seq != 0 {
		s += fmt.Sprintf(" at sequence %d", e.Seq)
	}
	if e.Key != nil {
		s += fmt.Sprintf(" key %s", FormatKey(e.Key))
	}
	return s + ": " + e.Msg
}
