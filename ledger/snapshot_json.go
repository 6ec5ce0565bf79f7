package ledger

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/asofdev/asof/internal/jsonw"
)

// AppendSnapshot appends the JSON of s to b, the form the scoring service
// publishes, and returns the extended buffer. It writes the bytes that
// json.Marshal writes for the snapshot's wire shape (the keys in the order
// of the package comment's example, request_id left out when empty,
// strings escaped as json.Marshal escapes them), without
// reflection: the scoring service encodes a snapshot on every request. It
// refuses a snapshot that DecodeSnapshot would refuse, and numbers that
// JSON cannot hold (NaN, infinities); b is then returned unchanged.
func AppendSnapshot(b []byte, s *Snapshot) ([]byte, error) {
	switch {
	case s.ID == "":
		return b, errors.New("ledger: encode snapshot: no id")
	case s.Model == "":
		return b, errors.New("ledger: encode snapshot: no model")
	case s.Entity == "":
		return b, errors.New("ledger: encode snapshot: no entity")
	case s.Time.IsZero():
		return b, errors.New("ledger: encode snapshot: zero time")
	}
	out := jsonw.AppendString(append(b, `{"snapshot_id":`...), s.ID)
	if s.RequestID != "" {
		out = jsonw.AppendString(append(out, `,"request_id":`...), s.RequestID)
	}
	out = jsonw.AppendString(append(out, `,"model":`...), s.Model)
	out = jsonw.AppendString(append(out, `,"model_version":`...), s.ModelVersion)
	out = jsonw.AppendString(append(out, `,"spec_version":`...), s.SpecVersion)
	out = jsonw.AppendString(append(out, `,"entity":`...), s.Entity)
	out = appendTimeJSON(append(out, `,"time":`...), s.Time)

	out = append(out, `,"features":[`...)
	for i, f := range s.Vector {
		if i > 0 {
			out = append(out, ',')
		}
		out = jsonw.AppendString(append(out, `{"name":`...), f.Name)
		var err error
		if out, err = appendValueJSON(append(out, `,"value":`...), f.Value); err != nil {
			return b, fmt.Errorf("ledger: encode snapshot: feature %q: %w", f.Name, err)
		}
		out = append(out, '}')
	}
	out = appendHex16(append(out, `],"vector_hash":"`...), s.VectorHash)
	out = strconv.AppendUint(append(out, `","input_count":`...), s.InputCount, 10)
	out = appendHex16(append(out, `,"input_digest":"`...), s.InputDigest)
	out = strconv.AppendUint(append(out, `","watermark":`...), s.Watermark, 10)
	out, ok := jsonw.AppendFloat(append(out, `,"score":`...), s.Score)
	if !ok {
		return b, fmt.Errorf("ledger: encode snapshot: score %v cannot be written as JSON",
			s.Score)
	}
	out = strconv.AppendBool(append(out, `,"decision":`...), s.Decision)
	return append(out, '}'), nil
}

// appendTimeJSON appends t in UTC as an RFC 3339 JSON string with as many
// fractional digits as it needs, the form DecodeSnapshot reads.
func appendTimeJSON(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendHex16 appends v as 16 lowercase hex digits, the form parseHex16 reads.
func appendHex16(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	n := len(b)
	b = append(b, "0000000000000000"...)
	for i := n + 15; i >= n; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return b
}
