module github.com/veil-gateway/veil

go 1.26.8

require (
	gocv.io/x/gocv v0.31.0
	golang.org/x/term v0.48.0
)

require golang.org/x/sys v0.50.0 // indirect
