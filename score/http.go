package score

import (
	"errors"
	"io"
	"net/http"
)

// Register mounts the HTTP form of the service on mux:
//
//	POST /v1/score/{model}   body: a request; answer: a reply
//
// The status is 200 for a score, 400 bad_request, 404 unknown_model, 413
// too_large and 503 unavailable; the body is the reply in every case.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/score/{model}", s.serveHTTP)
}

func (s *Service) serveHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, int64(s.opts.MaxRequest)+1))
	var a answer
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		a.Reply = failed("", CodeTooLarge, "request is over the limit of %d bytes",
			s.opts.MaxRequest)
	case err != nil:
		a.Reply = failed("", CodeBadRequest, "read request: %v", err)
	default:
		a = s.answer(req.Context(), req.PathValue("model"), body)
	}
	b := a.appendReply(nil)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus(a.Error))
	_, _ = w.Write(append(b, '\n'))
}

// httpStatus maps a reply's error to its HTTP status.
func httpStatus(e *ReplyError) int {
	if e == nil {
		return http.StatusOK
	}
	switch e.Code {
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeUnknownModel:
		return http.StatusNotFound
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusServiceUnavailable
}
