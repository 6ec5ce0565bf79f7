// Command asof ingests events and snapshots into the ledger, serves online
// features and scores, replays vectors as of any instant and audits what was
// served against what replay computes. Run "asof help" for the commands.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
