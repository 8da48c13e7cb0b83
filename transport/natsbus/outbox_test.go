package natsbus_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/transport/natsbus"
)

// While the server is down the outbox keeps messages; after it returns
// they are stored in order, numbered without a gap, none twice.
func TestOutboxSurvivesOutage(t *testing.T) {
	dir := t.TempDir()
	srv := testenv.NATSServer(t, -1, dir)
	port := srv.Addr().(*net.TCPAddr).Port
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := natsbus.NewOutbox(nc, slog.New(slog.DiscardHandler))
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
	srv = testenv.NATSServer(t, port, dir)
	defer srv.Shutdown()
	waitSent(25)
	got := testenv.StreamMessages(t, url, subj)
	if len(got) != 25 {
		t.Fatalf("stream holds %d messages, want 25", len(got))
	}
	for i, m := range got {
		if m["seq"].(float64) != float64(i+1) {
			t.Fatalf("message %d has seq %v: a gap or a duplicate", i, m["seq"])
		}
	}
}
