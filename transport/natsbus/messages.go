package natsbus

import "time"

// Schema ids, one per message kind; the JSON Schemas are in schema/ at the
// repository root. A breaking change gets a new version.
const (
	SchemaCounts = "veil.counts/v1"
	SchemaEvent  = "veil.event/v1"
	SchemaStatus = "veil.status/v1"
)

// Subjects for a camera.
func CountsSubject(camera string) string { return "veil." + camera + ".counts" }
func EventsSubject(camera string) string { return "veil." + camera + ".events" }
func StatusSubject(camera string) string { return "veil." + camera + ".status" }

// Counts is the periodic aggregate of one camera (veil.<camera>.counts):
// totals since the gateway started, current occupancy and tracked objects.
// Only numbers and the names an operator configured: no pixels, no plate
// text, no appearance, no track ids.
type Counts struct {
	Schema   string         `json:"schema"`
	Camera   string         `json:"camera"`
	Seq      uint64         `json:"seq"` // 1, 2, 3... per subject, gap-free
	Time     time.Time      `json:"time"`
	Since    time.Time      `json:"since"` // when counting started (totals are since then)
	Lines    []LineCounts   `json:"lines"`
	Zones    []ZoneCounts   `json:"zones"`
	Objects  map[string]int `json:"objects"` // confirmed tracks in view, per class
	Redacted Redacted       `json:"redacted"`
}

// LineCounts are the crossings of one line, per class.
type LineCounts struct {
	Line    string           `json:"line"`
	Classes map[string]InOut `json:"classes"`
}

// InOut counts crossings per direction.
type InOut struct {
	In  uint64 `json:"in"`
	Out uint64 `json:"out"`
}

// ZoneCounts is the current occupancy of one zone, per class.
type ZoneCounts struct {
	Zone    string         `json:"zone"`
	Classes map[string]int `json:"classes"`
}

// Redacted counts regions destroyed since the gateway started.
type Redacted struct {
	Faces  uint64 `json:"faces"`
	Plates uint64 `json:"plates"`
}

// Event is one line crossing (veil.<camera>.events).
type Event struct {
	Schema    string    `json:"schema"`
	Camera    string    `json:"camera"`
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"` // "crossing"
	Line      string    `json:"line"`
	Class     string    `json:"class"`
	Direction string    `json:"direction"` // "in" or "out"
}

// Status is a camera's health (veil.<camera>.status, not persisted).
type Status struct {
	Schema string    `json:"schema"`
	Camera string    `json:"camera"`
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Status any       `json:"status"` // the camera's entry of GET /api/cameras
}
