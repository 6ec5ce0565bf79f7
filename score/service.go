package score

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

	// Concurrency is the most requests answered at once; more wait.
	// Default 256.
	Concurrency int

	// PublishTimeout bounds the wait for JetStream to acknowledge a
	// snapshot; a request that runs out of it is answered unavailable.
	// Default 5 s.
	PublishTimeout time.Duration

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
	nc      *nats.Conn
	js      jetstream.JetStream
	online  *Online
	models  map[string]*served
	unknown *requestCounters // requests to a model not served
	opts    ServiceOptions
	log     hclog.Logger
	m       *serviceMetrics
	ids     idSource

	replyBufs    sync.Pool // of *[]byte, the buffers NATS replies are encoded into
	snapshotMsgs sync.Pool // of *snapshotMsg
}

// snapshotMsg is a snapshot message made to be reused: PublishMsg copies
// what it sends and keeps nothing once it returns. The header is set here
// rather than by jetstream.WithMsgID, which allocates an option and its
// settings on every call.
type snapshotMsg struct {
	msg nats.Msg
	id  []string // the header's only value
}

func newSnapshotMsg() any {
	id := make([]string, 1)
	return &snapshotMsg{msg: nats.Msg{Header: nats.Header{jetstream.MsgIDHeader: id}}, id: id}
}

// set makes the message one of payload on subject with message id id.
func (m *snapshotMsg) set(subject string, payload []byte, id string) *nats.Msg {
	m.msg.Subject, m.msg.Data, m.id[0] = subject, payload, id
	return &m.msg
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
func NewService(nc *nats.Conn, js jetstream.JetStream, online *Online, models []*model.Model,
	opts ServiceOptions) (*Service, error) {
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
	s := &Service{nc: nc, js: js, online: online, models: make(map[string]*served, len(byName)),
		unknown: newRequestCounters(m.requests, "unknown"), opts: opts,
		log: opts.Logger.Named("score"), m: m, ids: ids,
		replyBufs:    sync.Pool{New: func() any { return new([]byte) }},
		snapshotMsgs: sync.Pool{New: newSnapshotMsg}}
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
func (s *Service) Run(ctx context.Context) error {
	w := &workers{serve: s.serveMsg, msgs: make(chan *nats.Msg), max: s.opts.Concurrency}
	sub, err := s.nc.QueueSubscribe(s.opts.SubjectPrefix+".>", s.opts.Queue, w.dispatch)
	if err != nil {
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
	w.stop()
	return nil
}

// serveMsg answers one NATS request.
func (s *Service) serveMsg(m *nats.Msg) {
	name := strings.TrimPrefix(m.Subject, s.opts.SubjectPrefix+".")
	a := s.answer(context.Background(), name, m.Data)
	if m.Reply == "" {
		return // nobody waits for the answer; the snapshot is recorded all the same
	}

	// The reply is encoded into a pooled buffer: Respond copies it.
	buf := s.replyBufs.Get().(*[]byte)
	defer s.replyBufs.Put(buf)
	b, err := a.appendJSON((*buf)[:0])
	if err != nil {
		a = answer{Reply: failed(a.RequestID, CodeUnavailable, "encode reply: %v", err)}
		b, _ = a.appendJSON((*buf)[:0])
	}
	*buf = b
	if err := m.Respond(b); err != nil {
		s.log.Warn("reply not sent", "subject", m.Subject, "error", err)
	}
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
	sv, ok := s.models[modelName]
	counters := s.unknown
	if ok {
		counters = sv.requests
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("scoring request panicked", "model", modelName, "panic", p)
			a = answer{Reply: failed(a.RequestID, CodeUnavailable, "internal error")}
		}
		outcome := "ok"
		if a.Error != nil {
			outcome = a.Error.Code
		}
		counters.inc(outcome)
		s.m.latency.Observe(time.Since(start).Seconds())
	}()

	if !ok {
		return answer{Reply: failed("", CodeUnknownModel, "no model %q is served", modelName)}
	}
	req, bad := parseRequest(payload, s.opts.MaxRequest)
	if bad != nil {
		return answer{Reply: *bad}
	}
	return s.score(ctx, sv, req)
}

// score computes, records and returns the answer to a valid request.
func (s *Service) score(ctx context.Context, sv *served, req Request) answer {
	v, err := s.online.View(req.Entity)
	if err != nil {
		return answer{Reply: failed(req.RequestID, CodeUnavailable, "%v", err)}
	}
	mod := sv.model
	score, decision := mod.Score(v.Spec, v.Vector)
	snap := ledger.Snapshot{
		ID: s.ids.next(v.Vector.At), RequestID: req.RequestID, Model: mod.Name,
		ModelVersion: mod.Version, SpecVersion: v.Spec.Version, Entity: req.Entity,
		Time: v.Vector.At, Vector: convert.Vector(v.Spec, v.Vector),
		VectorHash: v.Vector.Hash(v.Spec), InputCount: uint64(v.Vector.Count),
		InputDigest: v.Vector.Digest, Watermark: v.Watermark,
		Score: score, Decision: decision,
	}
	if err := s.publish(ctx, sv.subject, &snap); err != nil {
		return answer{Reply: failed(req.RequestID, CodeUnavailable, "%v", err)}
	}
	if s.opts.OnSnapshot != nil {
		s.opts.OnSnapshot(snap)
	}
	return answer{view: v, Reply: Reply{RequestID: req.RequestID, SnapshotID: snap.ID,
		Model: mod.Name, ModelVersion: mod.Version, SpecVersion: v.Spec.Version,
		Entity: req.Entity, Time: snap.Time.Format(time.RFC3339Nano), Score: score,
		Decision: decision, Empty: v.Empty, Watermark: v.Watermark}}
}

// publish encodes the snapshot, publishes it on subject with its id as
// message id and waits for JetStream's acknowledgement.
func (s *Service) publish(ctx context.Context, subject string, snap *ledger.Snapshot) error {
	payload, err := ledger.EncodeSnapshot(snap)
	if err != nil {
		return fmt.Errorf("snapshot not recorded: %w", err)
	}
	snap.Payload = payload
	ctx, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
	defer cancel()
	m := s.snapshotMsgs.Get().(*snapshotMsg)
	defer s.snapshotMsgs.Put(m)
	msg := m.set(subject, payload, snap.ID)
	defer m.set("", nil, "")
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		s.log.Warn("snapshot not acknowledged", "snapshot_id", snap.ID, "error", err)
		return fmt.Errorf("snapshot not recorded: %w", err)
	}
	return nil
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
	ns := uint64(t.UnixNano())
	for i := 17; i >= 2; i-- {
		b[i] = hexDigits[ns&15]
		ns >>= 4
	}
	b = append(b, g.prefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, g.n.Add(1), 16)
	return string(b)
}

// hexDigits are the digits of lowercase hexadecimal, by value.
const hexDigits = "0123456789abcdef"
