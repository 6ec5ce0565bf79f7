package score

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/internal/jsonw"
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

// answer is a reply with the view it was scored from. Its features stay in
// the view's vector until they are written, so that answering over NATS
// or HTTP builds no map of them.
type answer struct {
	Reply // without Features
	view  View
}

// reply returns the answer as a Reply, with its features.
func (a *answer) reply() Reply {
	r := a.Reply
	if r.Error == nil {
		r.Features = a.view.Vector.Map(a.view.Spec)
	}
	return r
}

// appendJSON appends the JSON of the reply, the bytes Reply.MarshalJSON
// writes. It writes them itself, with no reflection, unless a value needs
// encoding/json.
func (a *answer) appendJSON(b []byte) ([]byte, error) {
	if a.Error != nil {
		return a.appendError(b), nil
	}
	if out, ok := a.appendSuccess(b); ok {
		return out, nil
	}
	j, err := a.reply().MarshalJSON()
	return append(b, j...), err
}

// appendReply appends the JSON of the reply as appendJSON does. An answer
// that cannot be encoded becomes unavailable, with the reason, and that is
// what it appends instead.
func (a *answer) appendReply(b []byte) []byte {
	out, err := a.appendJSON(b)
	if err != nil {
		*a = answer{Reply: failed(a.RequestID, CodeUnavailable, "encode reply: %v", err)}
		out, _ = a.appendJSON(b) // an error form always encodes
	}
	return out
}

// appendError appends the error form.
func (a *answer) appendError(b []byte) []byte {
	b = append(b, '{')
	if a.RequestID != "" {
		b = jsonw.AppendString(append(b, `"request_id":`...), a.RequestID)
		b = append(b, ',')
	}
	b = jsonw.AppendString(append(b, `"error":{"code":`...), a.Error.Code)
	b = jsonw.AppendString(append(b, `,"message":`...), a.Error.Message)
	return append(b, "}}"...)
}

// appendSuccess appends the success form, the fields in Reply's order. It
// reports false for a number that JSON cannot hold.
func (a *answer) appendSuccess(b []byte) ([]byte, bool) {
	b = jsonw.AppendString(append(b, `{"request_id":`...), a.RequestID)
	b = jsonw.AppendString(append(b, `,"snapshot_id":`...), a.SnapshotID)
	b = jsonw.AppendString(append(b, `,"model":`...), a.Model)
	b = jsonw.AppendString(append(b, `,"model_version":`...), a.ModelVersion)
	b = jsonw.AppendString(append(b, `,"spec_version":`...), a.SpecVersion)
	b = jsonw.AppendString(append(b, `,"entity":`...), a.Entity)
	b = jsonw.AppendString(append(b, `,"time":`...), a.Time)
	b, ok := jsonw.AppendFloat(append(b, `,"score":`...), a.Score)
	if !ok {
		return b, false
	}
	b = strconv.AppendBool(append(b, `,"decision":`...), a.Decision)
	b, ok = appendFeatures(append(b, `,"features":`...), a.view.Spec, a.view.Vector.Values)
	if !ok {
		return b, false
	}
	b = strconv.AppendBool(append(b, `,"empty":`...), a.Empty)
	b = strconv.AppendUint(append(b, `,"watermark":`...), a.Watermark, 10)
	return append(b, '}'), true
}

// appendFeatures appends the object of values that Vector.Map makes, as
// json.Marshal writes a map: by feature name in byte order.
func appendFeatures(b []byte, spec *feature.Spec, values []feature.Value) ([]byte, bool) {
	b = append(b, '{')
	first := true
	for k := range spec.Features {
		i := spec.ByName(k)
		if i >= len(values) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(jsonw.AppendString(b, spec.Features[i].Name), ':')
		var ok bool
		if b, ok = appendValue(b, values[i]); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
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
	req, ok := parsePlainRequest(payload)
	if !ok {
		var bad *Reply
		if req, bad = parseAnyRequest(payload); bad != nil {
			return Request{}, bad
		}
	}
	return checkRequest(req)
}

// parseAnyRequest decodes a request payload in any form JSON allows.
func parseAnyRequest(payload []byte) (Request, *Reply) {
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
	return req, nil
}

// checkRequest checks the fields of a decoded request.
func checkRequest(req Request) (Request, *Reply) {
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
