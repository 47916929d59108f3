// Command sluice is the single Sluice binary: broker, operator tools and
// benchmarks. It only hands its arguments to internal/cli.
package main

import (
	"os"

	"github.com/sluice-io/sluice/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
