// Package natsbus connects the gateway to NATS: an embedded nats-server
// with JetStream when no URL is configured (zero-config), or an external
// server or cluster. Only JSON built from counters leaves through it.
package natsbus

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options choose the server.
type Options struct {
	URL      string // external server(s), comma-separated; "" embeds one
	Creds    string // credentials file for the external server
	TLSCA    string // CA to verify the external server
	Listen   string // the embedded server's host:port (port -1: any free port)
	StoreDir string // the embedded server's JetStream directory ("": a temporary one)
}

// Bus is a connection, and the embedded server when there is one.
type Bus struct {
	srv    *server.Server
	nc     *nats.Conn
	tmpDir string
	log    *slog.Logger
}

// Start embeds a server if asked and connects to it.
func Start(o Options, log *slog.Logger) (*Bus, error) {
	b := &Bus{log: log}
	url := o.URL
	if url == "" {
		if err := b.embed(o); err != nil {
			return nil, err
		}
		url = b.srv.ClientURL()
	}
	opts := []nats.Option{
		nats.Name("veil"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected; buffering", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("nats: connecting to %s: %w", url, err)
	}
	b.nc = nc
	return b, nil
}

func (b *Bus) embed(o Options) error {
	host, portStr, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return fmt.Errorf("nats.listen %q: %w", o.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("nats.listen %q: bad port", o.Listen)
	}
	if port == 0 {
		port = -1 // nats-server reads 0 as its default 4222; -1 is "any free port"
	}
	if port > 0 { // fail now with the reason, not after the start timeout
		ln, err := net.Listen("tcp", o.Listen)
		if err != nil {
			return fmt.Errorf("nats.listen: %w (another NATS server? set nats.url to use it, or nats.listen)", err)
		}
		ln.Close()
	}
	dir := o.StoreDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "veil-nats-"); err != nil {
			return err
		}
		b.tmpDir = dir
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "veil", Host: host, Port: port, JetStream: true, StoreDir: dir,
		NoSigs: true, NoLog: true, MaxPayload: 1 << 20,
	})
	if err != nil {
		return fmt.Errorf("nats: embedded server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(5 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("nats: embedded server did not start on %s (port in use? set nats.listen or VEIL_NATS_LISTEN)", o.Listen)
	}
	b.srv = srv
	b.log.Info("embedded nats server", "url", srv.ClientURL(), "jetstream", dir)
	return nil
}

// URL is where clients connect (the embedded server's, or the external one).
func (b *Bus) URL() string {
	if b.srv != nil {
		return b.srv.ClientURL()
	}
	return b.nc.ConnectedUrlRedacted()
}

// Conn is the connection, for JetStream and subscribers.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// PublishJSON encodes v and publishes it; while disconnected nats.go
// buffers it and sends it on reconnect.
func (b *Bus) PublishJSON(subject string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.nc.Publish(subject, data)
}

// Close drains the connection and stops the embedded server.
func (b *Bus) Close() error {
	var err error
	if b.nc != nil {
		// Drain is asynchronous: wait (briefly) for it to finish.
		if err = b.nc.Drain(); err == nil {
			for deadline := time.Now().Add(2 * time.Second); !b.nc.IsClosed() && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
		}
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	if b.tmpDir != "" {
		err = errors.Join(err, os.RemoveAll(b.tmpDir))
	}
	return err
}
