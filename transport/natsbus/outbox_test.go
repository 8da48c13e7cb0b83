package natsbus

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// runServer starts a real nats-server with JetStream on port (0: any).
func runServer(t *testing.T, port int, dir string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return s
}

// readStream returns every message stored on subject.
func readStream(t *testing.T, url, subject string) []map[string]any {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for {
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			var v map[string]any
			if err := json.Unmarshal(m.Data(), &v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
			n++
		}
		if n == 0 {
			return out
		}
	}
}

// While the server is down the outbox keeps messages; after it returns
// they are stored in order, numbered without a gap, none twice.
func TestOutboxSurvivesOutage(t *testing.T) {
	dir := t.TempDir()
	srv := runServer(t, -1, dir)
	port := srv.Addr().(*net.TCPAddr).Port
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := NewOutbox(nc, slog.New(slog.DiscardHandler))
	go o.Run(ctx)
	const subj = "veil.cam.events"
	enqueue := func(n int) {
		for range n {
			if err := o.Enqueue(subj, func(seq uint64) any { return map[string]any{"seq": seq} }); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitSent := func(n uint64) {
		deadline := time.Now().Add(20 * time.Second)
		for o.Stats().Sent < n {
			if time.Now().After(deadline) {
				t.Fatalf("sent %+v, want %d", o.Stats(), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	enqueue(5)
	waitSent(5)
	srv.Shutdown()
	srv.WaitForShutdown()
	enqueue(20) // the gateway goes on counting
	time.Sleep(2 * time.Second)
	if st := o.Stats(); st.Queued != 20 || st.Sent != 5 {
		t.Fatalf("during the outage: %+v, want 20 queued", st)
	}
	srv = runServer(t, port, dir)
	defer srv.Shutdown()
	waitSent(25)
	got := readStream(t, url, subj)
	if len(got) != 25 {
		t.Fatalf("stream holds %d messages, want 25", len(got))
	}
	for i, m := range got {
		if m["seq"].(float64) != float64(i+1) {
			t.Fatalf("message %d has seq %v: a gap or a duplicate", i, m["seq"])
		}
	}
}
