package score

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/internal/convert"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/model"
)

// ServiceOptions configures a Service. Zero fields take the defaults each
// one names.
type ServiceOptions struct {
	// SubjectPrefix is where requests arrive: <prefix>.<model>. Default
	// "score".
	SubjectPrefix string

	// Queue is the queue group of the request subscription, so that many
	// processes can share the requests. Default "asof-score".
	Queue string

	// SnapshotPrefix is where snapshots are published:
	// <prefix>.<model>. It must lie in the snapshots stream. Default
	// "snapshots".
	SnapshotPrefix string

	// MaxRequest is the largest request accepted, in bytes. Default 64 KiB.
	MaxRequest int

	// Concurrency is the most NATS requests in flight at once, between
	// their arrival and their reply; more wait. Default 256.
	Concurrency int

	// PublishTimeout bounds the wait for JetStream to acknowledge a
	// snapshot; a request that runs out of it is answered unavailable.
	// Default 5 s.
	PublishTimeout time.Duration

	// SnapshotConn, when set, is the connection snapshots are published
	// and acknowledged on, so that they do not queue behind requests and
	// replies on the service's own. Default: the service's connection.
	SnapshotConn *nats.Conn

	// OnSnapshot, when set, is called with every snapshot after JetStream
	// acknowledged it and before the reply is sent. It must be quick and
	// safe for concurrent use. Default: none.
	OnSnapshot func(ledger.Snapshot)

	// Registerer receives the service's metrics. Default: a private
	// registry that nobody reads.
	Registerer prometheus.Registerer

	// Logger receives the service's log lines. Default: discard.
	Logger hclog.Logger
}

func (o ServiceOptions) withDefaults() ServiceOptions {
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = "score"
	}
	if o.Queue == "" {
		o.Queue = "asof-score"
	}
	if o.SnapshotPrefix == "" {
		o.SnapshotPrefix = "snapshots"
	}
	if o.MaxRequest == 0 {
		o.MaxRequest = 64 << 10
	}
	if o.Concurrency == 0 {
		o.Concurrency = 256
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = 5 * time.Second
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return o
}

// Validate reports an option that cannot be used.
func (o ServiceOptions) Validate() error {
	switch {
	case o.MaxRequest < 0 || o.Concurrency < 0:
		return errors.New("score: service options: negative size")
	case o.PublishTimeout < 0:
		return errors.New("score: service options: negative duration")
	}
	return nil
}

// Service answers scoring requests from the online state, over NATS and
// HTTP, and records a snapshot of every answer. It is safe for concurrent
// use.
type Service struct {
	nc      *nats.Conn // requests and replies
	snc     *nats.Conn // snapshots and their acknowledgements
	online  *Online
	models  map[string]*served
	unknown *requestCounters // requests to a model not served
	opts    ServiceOptions
	log     hclog.Logger
	m       *serviceMetrics
	ids     idSource

	records sync.Pool // of *record, for Score and HTTP requests
	cursors sync.Pool // of *feature.Cursor
}

// served is one model of the service, with what its requests need made
// once: the subject of its snapshots and its requests counters.
type served struct {
	model    *model.Model
	subject  string
	requests *requestCounters
}

// NewService returns a service of models over online's state. Every model
// is checked against the online pipeline's spec; the first that does not
// fit is refused with its file and the feature it names.
func NewService(nc *nats.Conn, online *Online, models []*model.Model, opts ServiceOptions) (
	*Service, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	byName, err := checkModels(models, online.Spec())
	if err != nil {
		return nil, err
	}
	m, err := newServiceMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("score: register service metrics: %w", err)
	}
	ids, err := newIDSource()
	if err != nil {
		return nil, err
	}
	snc := opts.SnapshotConn
	if snc == nil {
		snc = nc
	}
	s := &Service{nc: nc, snc: snc, online: online,
		models:  make(map[string]*served, len(byName)),
		unknown: newRequestCounters(m.requests, "unknown"), opts: opts,
		log: opts.Logger.Named("score"), m: m, ids: ids,
		records: sync.Pool{New: newRecord},
		cursors: sync.Pool{New: func() any { return new(feature.Cursor) }}}
	for name, mod := range byName {
		s.models[name] = &served{model: mod, subject: opts.SnapshotPrefix + "." + name,
			requests: newRequestCounters(m.requests, name)}
	}
	return s, nil
}

// checkModels checks models against spec and indexes them by name.
func checkModels(models []*model.Model, spec *feature.Spec) (map[string]*model.Model, error) {
	if len(models) == 0 {
		return nil, ErrNoModels
	}
	byName := make(map[string]*model.Model, len(models))
	for _, m := range models {
		if err := m.Check(spec); err != nil {
			return nil, err
		}
		if old, dup := byName[m.Name]; dup {
			return nil, fmt.Errorf("%w: %q in %s and %s", ErrDuplicateModel, m.Name, old.File,
				m.File)
		}
		byName[m.Name] = m
	}
	return byName, nil
}

// LoadModels reads model files and checks each against spec. It refuses the
// first that cannot be read, does not fit the spec, or repeats a name,
// naming the file.
func LoadModels(paths []string, spec *feature.Spec) ([]*model.Model, error) {
	models := make([]*model.Model, 0, len(paths))
	for _, p := range paths {
		m, err := model.Load(p)
		if err != nil {
			return nil, err
		}
		models = append(models, m)
	}
	if _, err := checkModels(models, spec); err != nil {
		return nil, err
	}
	return models, nil
}

// Run answers requests on <SubjectPrefix>.<model> until ctx is cancelled,
// then stops taking requests, finishes those in flight and returns nil.
// Requests go through a pipeline (see pipeline.go): no goroutine waits for
// a snapshot's acknowledgement.
func (s *Service) Run(ctx context.Context) error {
	pl, err := s.newPipeline()
	if err != nil {
		return err
	}
	sub, err := s.nc.QueueSubscribe(s.opts.SubjectPrefix+".>", s.opts.Queue, pl.serve)
	if err != nil {
		pl.stop()
		return fmt.Errorf("score: subscribe %s.>: %w", s.opts.SubjectPrefix, err)
	}
	s.log.Info("scoring", "subject", s.opts.SubjectPrefix+".>", "models", len(s.models))
	<-ctx.Done()
	if err := sub.Drain(); err != nil {
		_ = sub.Unsubscribe()
	}
	for sub.IsValid() {
		time.Sleep(10 * time.Millisecond)
	}
	pl.stop()
	return nil
}

// Score answers one request to the named model: it reads the entity's
// vector and the watermark, scores, publishes the snapshot and waits for
// JetStream's acknowledgement. Failures are replies with an error, never
// panics: a panic in one request is recovered and answered unavailable.
func (s *Service) Score(ctx context.Context, modelName string, payload []byte) Reply {
	a := s.answer(ctx, modelName, payload)
	return a.reply()
}

// answer is Score without the reply's features, which stay in the answer's
// view.
func (s *Service) answer(ctx context.Context, modelName string, payload []byte) (a answer) {
	start := time.Now()
	r := s.records.Get().(*record)
	defer s.records.Put(r)
	counters, a, ready := s.begin(modelName, payload, r)
	defer func() {
		if p := recover(); p != nil {
			a = s.panicked(modelName, a.RequestID, p)
		}
		s.count(counters, a.Error, start)
	}()
	if !ready {
		return a
	}
	if err := s.publishWait(ctx, r); err != nil {
		return answer{Reply: failed(a.RequestID, CodeUnavailable, "%v", err)}
	}
	s.recorded(r)
	return a
}

// begin is the first half of answering a request to the named model, the
// same over NATS and through Score: it looks the model up, reads and checks
// the request in payload, scores it and encodes its snapshot into r. It
// returns the counters the request is counted in, its answer, and whether
// the snapshot is ready to publish; if not, the answer is an error already.
// A panic is recovered and answered unavailable.
func (s *Service) begin(modelName string, payload []byte, r *record) (
	counters *requestCounters, a answer, ready bool) {
	defer func() {
		if p := recover(); p != nil {
			a, ready = s.panicked(modelName, a.RequestID, p), false
		}
	}()
	sv, counters := s.lookup(modelName)
	req, bad := s.parse(sv, modelName, payload)
	if bad != nil {
		return counters, answer{Reply: *bad}, false
	}
	a, err := s.prepare(sv, req, r)
	if err != nil {
		return counters, answer{Reply: failed(req.RequestID, CodeUnavailable, "%v", err)}, false
	}
	return counters, a, true
}

// panicked logs the panic p of a request to the named model and returns
// the answer to it: unavailable, with requestID.
func (s *Service) panicked(modelName, requestID string, p any) answer {
	s.log.Error("scoring request panicked", "model", modelName, "panic", p)
	return answer{Reply: failed(requestID, CodeUnavailable, "internal error")}
}

// lookup returns the served model of the name, nil when there is none, and
// the counters its requests are counted in.
func (s *Service) lookup(modelName string) (*served, *requestCounters) {
	if sv, ok := s.models[modelName]; ok {
		return sv, sv.requests
	}
	return nil, s.unknown
}

// parse decodes and checks a request to sv, the served model of the name,
// or returns the reply that refuses it.
func (s *Service) parse(sv *served, modelName string, payload []byte) (Request, *Reply) {
	if sv == nil {
		r := failed("", CodeUnknownModel, "no model %q is served", modelName)
		return Request{}, &r
	}
	return parseRequest(payload, s.opts.MaxRequest)
}

// count counts one answered request, its outcome and its latency.
func (s *Service) count(c *requestCounters, e *ReplyError, start time.Time) {
	outcome := "ok"
	if e != nil {
		outcome = e.Code
	}
	c.inc(outcome)
	s.m.latency.Observe(time.Since(start).Seconds())
}

// record is a snapshot on its way to the stream, with the buffers it is
// encoded into, made to be reused: PublishMsg copies what it sends and
// keeps nothing once it returns. The message id header is set here rather
// than by jetstream.WithMsgID, which allocates an option and its settings
// on every call.
type record struct {
	snap    ledger.Snapshot
	fields  []ledger.Field // snap.Vector's memory
	payload []byte         // snap.Payload's memory
	msg     nats.Msg       // the snapshot message
	msgID   []string       // the header's only value
}

func newRecord() any {
	id := make([]string, 1)
	return &record{msg: nats.Msg{Header: nats.Header{jetstream.MsgIDHeader: id}}, msgID: id}
}

// prepare reads the entity's vector, scores it with sv's model and encodes
// the snapshot into r, ready to be published on sv's subject. It returns
// the answer to send once the stream has stored the snapshot.
func (s *Service) prepare(sv *served, req Request, r *record) (answer, error) {
	c := s.cursors.Get().(*feature.Cursor)
	v, err := s.online.viewWith(c, req.Entity)
	s.cursors.Put(c) // the vector's values stay valid: the cursor never reuses them
	if err != nil {
		return answer{}, err
	}
	mod := sv.model
	score, decision := mod.Score(v.Spec, v.Vector)
	r.fields = convert.AppendVector(r.fields[:0], v.Spec, v.Vector)
	r.snap = ledger.Snapshot{
		ID: s.ids.next(v.Vector.At), RequestID: req.RequestID, Model: mod.Name,
		ModelVersion: mod.Version, SpecVersion: v.Spec.Version, Entity: req.Entity,
		Time: v.Vector.At, Vector: r.fields,
		VectorHash: v.Vector.Hash(v.Spec), InputCount: uint64(v.Vector.Count),
		InputDigest: v.Vector.Digest, Watermark: v.Watermark,
		Score: score, Decision: decision,
	}
	if r.payload, err = ledger.AppendSnapshot(r.payload[:0], &r.snap); err != nil {
		return answer{}, fmt.Errorf("snapshot not recorded: %w", err)
	}
	r.snap.Payload = r.payload
	r.msg.Subject, r.msg.Reply, r.msg.Data, r.msgID[0] = sv.subject, "", r.payload, r.snap.ID
	return answer{view: v, Reply: Reply{RequestID: req.RequestID, SnapshotID: r.snap.ID,
		Model: mod.Name, ModelVersion: mod.Version, SpecVersion: v.Spec.Version,
		Entity: req.Entity, Time: r.snap.Time.Format(time.RFC3339Nano), Score: score,
		Decision: decision, Empty: v.Empty, Watermark: v.Watermark}}, nil
}

// publishWait publishes r's snapshot and waits for the stream's
// acknowledgement of it, at most PublishTimeout.
func (s *Service) publishWait(ctx context.Context, r *record) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
	defer cancel()
	for retries := 0; ; retries++ {
		resp, err := s.snc.RequestMsgWithContext(ctx, &r.msg)
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			err = errNoStream
		case errors.Is(err, context.DeadlineExceeded):
			err = errAckTimeout
		case err == nil:
			err = checkAck(resp)
		}
		if retryNoStream(err, retries) {
			// A context that ends before the wait is over ends the
			// publication then, with errNoStream. The pipeline instead
			// gives up at once when no more than publishRetryWait is left
			// before its deadline.
			select {
			case <-ctx.Done():
			case <-time.After(publishRetryWait):
				continue
			}
		}
		if err != nil {
			return s.notRecorded(r, err)
		}
		return nil
	}
}

// notRecorded logs that r's snapshot was not acknowledged, for err, and
// returns the error its request is answered unavailable with.
func (s *Service) notRecorded(r *record, err error) error {
	s.log.Warn("snapshot not acknowledged", "snapshot_id", r.snap.ID, "error", err)
	return fmt.Errorf("snapshot not recorded: %w", err)
}

// recorded hands a stored snapshot to OnSnapshot, with copies of the
// buffers that r reuses.
func (s *Service) recorded(r *record) {
	if s.opts.OnSnapshot == nil {
		return
	}
	snap := r.snap
	snap.Vector, snap.Payload = slices.Clone(snap.Vector), bytes.Clone(snap.Payload)
	s.opts.OnSnapshot(snap)
}

// idSource makes snapshot ids: "s-", the request time as 16 hex digits of
// Unix nanoseconds, 8 hex digits drawn at random when the service starts
// and a counter in hex. Ids sort by time within a process and never repeat
// across processes but by a 2⁻³² chance per pair of starts.
type idSource struct {
	prefix string
	n      *atomic.Uint64
}

func newIDSource() (idSource, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return idSource{}, fmt.Errorf("score: snapshot id source: %w", err)
	}
	return idSource{prefix: hex.EncodeToString(b[:]), n: new(atomic.Uint64)}, nil
}

func (g idSource) next(t time.Time) string {
	var buf [48]byte
	b := append(buf[:0], "s-0000000000000000-"...)
	putHex16(b[2:18], uint64(t.UnixNano()))
	b = append(b, g.prefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, g.n.Add(1), 16)
	return string(b)
}

// putHex16 writes v into b[:16] as 16 lowercase hex digits.
func putHex16(b []byte, v uint64) {
	const digits = "0123456789abcdef"
	_ = b[15]
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
}
