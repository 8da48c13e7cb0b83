package natsbus_test

import (
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/veil-gateway/veil/transport/natsbus"
)

// The embedded server accepts plain NATS clients, and PublishJSON's
// messages arrive as JSON.
func TestEmbedded(t *testing.T) {
	b, err := natsbus.Start(natsbus.Options{Listen: "127.0.0.1:-1"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !strings.HasPrefix(b.URL(), "nats://127.0.0.1:") {
		t.Fatalf("URL %q", b.URL())
	}
	nc, err := nats.Connect(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("veil.cam.status")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	if err := b.PublishJSON("veil.cam.status", map[string]int{"frames": 3}); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]int
	if err := json.Unmarshal(m.Data, &got); err != nil || got["frames"] != 3 {
		t.Fatalf("got %s (%v)", m.Data, err)
	}
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(); err != nil {
		t.Errorf("JetStream not enabled on the embedded server: %v", err)
	}
}

// A taken port is a clear error, not a hang.
func TestEmbeddedPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = natsbus.Start(natsbus.Options{Listen: ln.Addr().String()}, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("started on a taken port")
	}
	t.Log(err)
}
