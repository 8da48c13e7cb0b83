package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/veil-gateway/veil/transport/natsbus"
)

const countsUsage = `usage: veil counts [-nats URL] [-camera NAME] [-history] [-json] [-n N]

Prints the counts and line crossings gateways publish on NATS
(veil.<camera>.counts, veil.<camera>.events), as they arrive.
`

func cmdCounts(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("counts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, countsUsage); fs.PrintDefaults() }
	url := fs.String("nats", nats.DefaultURL, "NATS server URL")
	creds := fs.String("creds", "", "NATS credentials file")
	camera := fs.String("camera", "*", "camera name (* for all)")
	raw := fs.Bool("json", false, "print the messages as JSON lines")
	limit := fs.Int("n", 0, "exit after this many messages (0: run until interrupted)")
	history := fs.Bool("history", false, "first print what the JetStream stream kept (needs -camera)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "veil counts: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *camera != "*" && strings.ContainsAny(*camera, ".*> \t") {
		fmt.Fprintf(stderr, "veil counts: bad camera name %q\n", *camera)
		return exitUsage
	}
	opts := []nats.Option{nats.Name("veil counts"), nats.Timeout(5 * time.Second)}
	if *creds != "" {
		opts = append(opts, nats.UserCredentials(*creds))
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "veil counts: %s: %v\n", *url, err)
		return exitFail
	}
	defer nc.Close()
	if *history {
		if *camera == "*" {
			fmt.Fprintln(stderr, "veil counts: -history needs -camera NAME")
			return exitUsage
		}
		hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		for _, subj := range []string{natsbus.CountsSubject(*camera), natsbus.EventsSubject(*camera)} {
			old, err := natsbus.History(hctx, nc, subj)
			if err != nil {
				cancel()
				fmt.Fprintf(stderr, "veil counts: history of %s: %v\n", subj, err)
				return exitFail
			}
			for _, m := range old {
				if *raw {
					fmt.Fprintf(stdout, "%s\n", m)
				} else {
					fmt.Fprintln(stdout, formatCountsMsg(subj, m))
				}
			}
		}
		cancel()
	}
	msgs := make(chan *nats.Msg, 256)
	for _, subj := range []string{natsbus.CountsSubject(*camera), natsbus.EventsSubject(*camera)} {
		if _, err := nc.ChanSubscribe(subj, msgs); err != nil {
			fmt.Fprintf(stderr, "veil counts: %v\n", err)
			return exitFail
		}
	}
	fmt.Fprintf(stderr, "veil counts: listening on %s (Ctrl-C to stop)\n", nc.ConnectedUrlRedacted())
	for n := 0; *limit == 0 || n < *limit; n++ {
		var m *nats.Msg
		select {
		case <-ctx.Done():
			return exitOK
		case m = <-msgs:
		}
		if *raw {
			fmt.Fprintf(stdout, "%s\n", m.Data)
			continue
		}
		fmt.Fprintln(stdout, formatCountsMsg(m.Subject, m.Data))
	}
	return exitOK
}

// formatCountsMsg renders one message as a line for people.
func formatCountsMsg(subject string, data []byte) string {
	if strings.HasSuffix(subject, ".events") {
		var e natsbus.Event
		if err := json.Unmarshal(data, &e); err != nil {
			return fmt.Sprintf("%s: unreadable: %v", subject, err)
		}
		return fmt.Sprintf("%s %-12s #%-5d crossing  line %s: %s %s", e.Time.Local().Format("15:04:05"), e.Camera, e.Seq, e.Line, e.Class, e.Direction)
	}
	var c natsbus.Counts
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Sprintf("%s: unreadable: %v", subject, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-12s #%-5d counts   ", c.Time.Local().Format("15:04:05"), c.Camera, c.Seq)
	for _, l := range c.Lines {
		fmt.Fprintf(&b, " line %s:", l.Line)
		for _, cls := range sortedKeys(l.Classes) {
			fmt.Fprintf(&b, " %s in %d out %d;", cls, l.Classes[cls].In, l.Classes[cls].Out)
		}
	}
	for _, z := range c.Zones {
		fmt.Fprintf(&b, " zone %s:", z.Zone)
		for _, cls := range sortedKeys(z.Classes) {
			fmt.Fprintf(&b, " %s %d;", cls, z.Classes[cls])
		}
	}
	b.WriteString(" in view:")
	for _, cls := range sortedKeys(c.Objects) {
		fmt.Fprintf(&b, " %s %d", cls, c.Objects[cls])
	}
	fmt.Fprintf(&b, "; redacted faces %d plates %d", c.Redacted.Faces, c.Redacted.Plates)
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
