package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// StreamName is the JetStream stream holding counts and events, so a
// consumer that was away misses nothing.
const StreamName = "VEIL"

// StreamSubjects are the persisted subjects.
var StreamSubjects = []string{"veil.*.counts", "veil.*.events"}

// MaxOutbox and MaxOutboxBytes bound what is kept while NATS is
// unreachable (about a day of counts every 10 s for 30 cameras). Past them
// the oldest messages are dropped and counted: memory stays bounded.
const (
	MaxOutbox      = 1 << 20
	MaxOutboxBytes = 64 << 20
)

// Outbox publishes persisted messages in order, each with a sequence
// number per subject, and keeps them until JetStream acknowledges them:
// while the server is unreachable the gateway goes on counting, and on
// reconnect the backlog is sent with no gap in the numbers. Each message
// carries a Nats-Msg-Id, so a retry of a message the server did store is
// deduplicated, not stored twice.
type Outbox struct {
	js  jetstream.JetStream
	log *slog.Logger

	mu      sync.Mutex
	queue   []pending
	bytes   int // of data in queue
	boot    string
	seq     map[string]uint64
	dropped uint64
	sent    uint64
	wake    chan struct{}
}

type pending struct {
	subject, id string
	data        []byte
}

// NewOutbox publishes through nc. The stream (kept a week) is created when
// Run starts, and again whenever a server turns out not to have it.
func NewOutbox(nc *nats.Conn, log *slog.Logger) *Outbox {
	js, _ := jetstream.New(nc) // only fails for a nil connection
	// Message ids carry a per-start id: numbers restart at 1 with the
	// gateway, and a new message must never look like a duplicate of one
	// stored before a restart.
	return &Outbox{js: js, log: log, boot: nuid.Next(), seq: map[string]uint64{}, wake: make(chan struct{}, 1)}
}

func (o *Outbox) ensureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := o.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: StreamName, Subjects: StreamSubjects, Storage: jetstream.FileStorage,
		MaxAge: 7 * 24 * time.Hour, Duplicates: 10 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("nats: stream %s: %w", StreamName, err)
	}
	return nil
}

// Enqueue numbers a message for subject (1, 2, 3... per subject) and queues
// it; build makes the payload for that number. It never blocks.
func (o *Outbox) Enqueue(subject string, build func(seq uint64) any) error {
	o.mu.Lock()
	seq := o.seq[subject] + 1
	data, err := json.Marshal(build(seq))
	if err != nil {
		o.mu.Unlock()
		return err
	}
	o.seq[subject] = seq
	for len(o.queue) > 0 && (len(o.queue) >= MaxOutbox || o.bytes+len(data) > MaxOutboxBytes) {
		o.bytes -= len(o.queue[0].data)
		o.queue = o.queue[1:]
		o.dropped++
		if o.dropped%1000 == 1 {
			o.log.Warn("nats outbox full: dropping the oldest messages", "dropped", o.dropped)
		}
	}
	o.queue = append(o.queue, pending{subject, fmt.Sprintf("%s.%s.%d", o.boot, subject, seq), data})
	o.bytes += len(data)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// OutboxStats is the publisher's state.
type OutboxStats struct {
	Queued  int    `json:"queued"`
	Sent    uint64 `json:"sent"`
	Dropped uint64 `json:"dropped"`
}

// Stats returns a snapshot.
func (o *Outbox) Stats() OutboxStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return OutboxStats{Queued: len(o.queue), Sent: o.sent, Dropped: o.dropped}
}

// Run publishes the queue in order until ctx ends, retrying the head
// message with backoff while the server does not acknowledge it. At the
// end it tries for up to flushTimeout to send what is left.
func (o *Outbox) Run(ctx context.Context) {
	if err := o.ensureStream(ctx); err != nil {
		o.log.Warn("nats: cannot create the stream yet; will retry", "err", err)
	}
	backoff := 100 * time.Millisecond
	for {
		o.mu.Lock()
		var head *pending
		if len(o.queue) > 0 {
			head = &o.queue[0]
		}
		o.mu.Unlock()
		if head == nil {
			select {
			case <-ctx.Done():
				o.flush() // what was queued while stopping
				return
			case <-o.wake:
				continue
			}
		}
		if err := o.publish(ctx, *head); err != nil {
			if ctx.Err() != nil {
				o.flush()
				return
			}
			o.log.Debug("nats publish failed; will retry", "subject", head.subject, "err", err, "queued", o.Stats().Queued)
			select {
			case <-ctx.Done():
				o.flush()
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		o.mu.Lock()
		if len(o.queue) > 0 && o.queue[0].id == head.id {
			o.bytes -= len(o.queue[0].data)
			o.queue = o.queue[1:]
			o.sent++
		}
		o.mu.Unlock()
	}
}

const flushTimeout = 2 * time.Second

// flush sends what it can in flushTimeout after the gateway was asked to
// stop.
func (o *Outbox) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	for {
		o.mu.Lock()
		if len(o.queue) == 0 {
			o.mu.Unlock()
			return
		}
		head := o.queue[0]
		o.mu.Unlock()
		if err := o.publish(ctx, head); err != nil {
			if n := o.Stats().Queued; n > 0 {
				o.log.Warn("nats: messages not sent at shutdown", "queued", n, "err", err)
			}
			return
		}
		o.mu.Lock()
		o.bytes -= len(o.queue[0].data)
		o.queue = o.queue[1:]
		o.sent++
		o.mu.Unlock()
	}
}

var errNoAck = errors.New("nats: no acknowledgement")

func (o *Outbox) publish(ctx context.Context, p pending) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ack, err := o.js.PublishMsg(ctx, &nats.Msg{Subject: p.subject, Data: p.data}, jetstream.WithMsgID(p.id))
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			// A new server without the stream (a restarted embedded one
			// with a fresh directory): create it again.
			_ = o.ensureStream(ctx)
		}
		return err
	}
	if ack == nil {
		return errNoAck
	}
	return nil
}

// History returns every message stored for subject in the stream, oldest
// first: what a consumer that was away reads on its return.
func History(ctx context.Context, nc *nats.Conn, subject string) ([][]byte, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	c, err := js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		batch, err := c.FetchNoWait(500)
		if err != nil {
			return out, err
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, m.Data())
			n++
		}
		if err := batch.Error(); err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
	}
}
