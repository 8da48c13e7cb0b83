package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/veil-gateway/veil/internal/testenv"
)

// TestServeAPI: the camera list, health, a camera whose source is down
// (reconnecting, its password hidden), bad requests, and status on NATS.
func TestServeAPI(t *testing.T) {
	door := camera("door", testenv.Data(t, "video/vtest.avi"))
	door.Detect.Config.Plates = false
	ghost := camera("ghost", "rtsp://admin:hunter2@127.0.0.1:1/stream")
	g, base := startGateway(t, testConfig(t, door, ghost))

	type cam struct {
		Name     string  `json:"name"`
		Source   string  `json:"source"`
		State    string  `json:"state"`
		Error    string  `json:"error"`
		FPS      float64 `json:"fps"`
		Encoded  uint64  `json:"frames_encoded"`
		Faces    uint64  `json:"faces_redacted"`
		Viewers  int     `json:"viewers"`
		WHEPURL  string  `json:"whep_url"`
		Reconn   uint64  `json:"reconnects"`
		Dropped  *uint64 `json:"frames_dropped"`
		LateDrop *uint64 `json:"frames_dropped_late"`
	}
	var cams []cam
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := httpDo(t, http.MethodGet, base+"/api/cameras", "", nil)
		if code != http.StatusOK {
			t.Fatalf("GET /api/cameras: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &cams); err != nil {
			t.Fatal(err)
		}
		if len(cams) == 2 && cams[0].Encoded > 3 && cams[0].FPS > 0 && cams[1].Reconn > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cameras not up: %s", body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	d, gh := cams[0], cams[1]
	if d.Name != "door" || d.State != "running" || d.WHEPURL != "/whep/door" || d.Dropped == nil || d.LateDrop == nil {
		t.Errorf("door: %+v", d)
	}
	if gh.State != "reconnecting" || gh.Error == "" {
		t.Errorf("ghost: want reconnecting with a reason, got %+v", gh)
	}
	if strings.Contains(gh.Source, "hunter2") {
		t.Errorf("the API shows a source password: %q", gh.Source)
	}

	if code, body := httpDo(t, http.MethodGet, base+"/healthz", "", nil); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("healthz: %d %s", code, body)
	}
	if code, body := httpDo(t, http.MethodGet, base+"/", "", nil); code != http.StatusOK || !strings.Contains(body, "viewer.js") {
		t.Errorf("viewer page: %d", code)
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/nope", 404},
		{http.MethodPost, "/api/cameras", 405},
		{http.MethodDelete, "/healthz", 405},
		{http.MethodGet, "/whep/door", 405},
		{http.MethodPost, "/whep/ghost-cam", 404},
	} {
		if code, body := httpDo(t, tc.method, base+tc.path, "application/sdp", strings.NewReader("v=0")); code != tc.code {
			t.Errorf("%s %s: %d %q, want %d", tc.method, tc.path, code, body, tc.code)
		}
	}

	// Status on NATS: every camera, counters only.
	nc, err := nats.Connect(g.bus.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("veil.*.status")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("status messages seen for %v: %v", seen, err)
		}
		var s map[string]any
		if err := json.Unmarshal(m.Data, &s); err != nil {
			t.Fatalf("%s: %v", m.Subject, err)
		}
		if len(m.Data) > 2048 {
			t.Errorf("%s: %d bytes: a status is counters, not pictures", m.Subject, len(m.Data))
		}
		if strings.Contains(string(m.Data), "hunter2") {
			t.Errorf("%s carries a source password", m.Subject)
		}
		seen[m.Subject] = true
	}
	if !seen["veil.door.status"] || !seen["veil.ghost.status"] {
		t.Errorf("subjects: %v", seen)
	}
}
