// Command veil is a privacy-by-design camera gateway: it finds every face and
// number plate and destroys them before any picture leaves the process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	limitMallocArenas()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
