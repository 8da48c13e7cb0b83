package testenv

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/veil-gateway/veil/transport/natsbus"
)

// NATSServer starts a real nats-server with JetStream on 127.0.0.1:port
// (-1: any free port) storing in dir, as a site's own server would be.
func NATSServer(tb testing.TB, port int, dir string) *server.Server {
	tb.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		tb.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats-server did not start")
	}
	return s
}

// StreamMessages returns every message the VEIL stream kept for subject,
// decoded from JSON, oldest first.
func StreamMessages(tb testing.TB, url, subject string) []map[string]any {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := natsbus.History(ctx, nc, subject)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal(m, &out[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}
