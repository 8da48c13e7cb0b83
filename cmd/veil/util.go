package main

import (
	"encoding/json"
	"io"
	"path/filepath"
)

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dirOf(path string) string { return filepath.Dir(path) }
