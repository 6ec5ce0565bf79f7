package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names one JetStream stream and the subjects it holds.
type Stream struct {
	Name     string
	Subjects []string
}

// StreamConfig names the streams asof uses. Zero fields take the defaults.
type StreamConfig struct {
	// Events holds the events services publish. Default EVENTS on
	// events.>.
	Events Stream

	// Snapshots holds the snapshots the scoring service publishes. Default
	// SNAPSHOTS on snapshots.>.
	Snapshots Stream

	// Dead holds the messages the ingester could not decode, each on
	// DeadPrefix.<original subject>. Default DEAD on asof.dead.>.
	Dead Stream

	// DeadPrefix is the subject prefix of dead letters; it must be matched
	// by Dead's subjects. Default "asof.dead".
	DeadPrefix string

	// Duplicates is the window in which JetStream drops a message whose
	// Nats-Msg-Id it has already stored. Default 2 minutes.
	Duplicates time.Duration

	// Replicas is the number of copies of each stream in a NATS cluster.
	// Default 1.
	Replicas int
}

func (c StreamConfig) withDefaults() StreamConfig {
	def := func(s Stream, name, subject string) Stream {
		if s.Name == "" {
			s.Name = name
		}
		if len(s.Subjects) == 0 {
			s.Subjects = []string{subject}
		}
		return s
	}
	c.Events = def(c.Events, "EVENTS", "events.>")
	c.Snapshots = def(c.Snapshots, "SNAPSHOTS", "snapshots.>")
	c.Dead = def(c.Dead, "DEAD", "asof.dead.>")
	if c.DeadPrefix == "" {
		c.DeadPrefix = "asof.dead"
	}
	if c.Duplicates == 0 {
		c.Duplicates = 2 * time.Minute
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	return c
}

// EnsureStreams creates the three streams, or updates them to cfg when
// they exist. It is safe to call at every start.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	cfg = cfg.withDefaults()
	for _, s := range []Stream{cfg.Events, cfg.Snapshots, cfg.Dead} {
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:       s.Name,
			Subjects:   s.Subjects,
			Storage:    jetstream.FileStorage,
			Retention:  jetstream.LimitsPolicy,
			Duplicates: cfg.Duplicates,
			Replicas:   cfg.Replicas,
		})
		if err != nil {
			return fmt.Errorf("ingest: create or update stream %s: %w", s.Name, err)
		}
	}
	return nil
}
