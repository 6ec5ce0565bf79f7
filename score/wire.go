package score

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/asofdev/asof/ledger"
)

// Request is a scoring request: {"entity": "user:42", "request_id": "r-1"}.
// request_id is optional.
type Request struct {
	Entity    string `json:"entity"`
	RequestID string `json:"request_id,omitempty"`
}

// Error codes of a reply that failed.
const (
	CodeUnknownModel = "unknown_model" // no model of that name is served
	CodeBadRequest   = "bad_request"   // not a request object, or a field is wrong
	CodeTooLarge     = "too_large"     // request over the size limit
	CodeUnavailable  = "unavailable"   // the service cannot answer now; try again
)

// ReplyError is the error of a failed request.
type ReplyError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *ReplyError) Error() string { return "score: " + e.Code + ": " + e.Message }

// Reply is the answer to a scoring request: a score and its snapshot, or an
// error. Its JSON is either the success form (every field but error) or
// {"request_id": ..., "error": {"code", "message"}}.
type Reply struct {
	RequestID    string         `json:"request_id"`
	SnapshotID   string         `json:"snapshot_id"`
	Model        string         `json:"model"`
	ModelVersion string         `json:"model_version"`
	SpecVersion  string         `json:"spec_version"`
	Entity       string         `json:"entity"`
	Time         string         `json:"time"` // request time T, RFC 3339, UTC
	Score        float64        `json:"score"`
	Decision     bool           `json:"decision"`
	Features     map[string]any `json:"features"`
	Empty        bool           `json:"empty"` // no event of the entity is held
	Watermark    uint64         `json:"watermark"`
	Error        *ReplyError    `json:"error,omitempty"`
}

// errorReply is the JSON form of a failed reply.
type errorReply struct {
	RequestID string      `json:"request_id,omitempty"`
	Error     *ReplyError `json:"error"`
}

// MarshalJSON writes the success form or the error form.
func (r Reply) MarshalJSON() ([]byte, error) {
	if r.Error != nil {
		return json.Marshal(errorReply{RequestID: r.RequestID, Error: r.Error})
	}
	type plain Reply // without this method
	return json.Marshal(plain(r))
}

func failed(requestID, code, format string, args ...any) Reply {
	return Reply{RequestID: requestID,
		Error: &ReplyError{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// parseRequest decodes and checks a request payload of at most maxSize
// bytes. The reply it returns on failure carries the request id when one
// could be read.
func parseRequest(payload []byte, maxSize int) (Request, *Reply) {
	if len(payload) > maxSize {
		r := failed("", CodeTooLarge, "request of %d bytes is over the limit of %d",
			len(payload), maxSize)
		return Request{}, &r
	}
	var req Request
	if err := json.Unmarshal(payload, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			r := failed("", CodeBadRequest, "request is a JSON %s, want an object", te.Value)
			return Request{}, &r
		}
		if errors.As(err, &te) {
			r := failed("", CodeBadRequest, "%s is a JSON %s, want a string", te.Field, te.Value)
			return Request{}, &r
		}
		r := failed("", CodeBadRequest, "request is not a JSON object: %v", err)
		return Request{}, &r
	}
	var msg string
	switch {
	case len(req.RequestID) > ledger.MaxKeyField:
		req.RequestID = "" // not echoed: too long
		msg = fmt.Sprintf("request_id is over %d bytes", ledger.MaxKeyField)
	case req.Entity == "":
		msg = "entity is missing or empty"
	case len(req.Entity) > ledger.MaxKeyField:
		msg = fmt.Sprintf("entity is over %d bytes", ledger.MaxKeyField)
	case !utf8.ValidString(req.Entity) || !utf8.ValidString(req.RequestID):
		msg = "entity and request_id must be valid UTF-8"
	}
	if msg != "" {
		r := failed(req.RequestID, CodeBadRequest, "%s", msg)
		return Request{}, &r
	}
	return req, nil
}
