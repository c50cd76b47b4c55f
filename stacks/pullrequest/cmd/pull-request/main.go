// Command pull-request is the workflows' tool for pull requests: the synth diff's base, and
// the comments (see package pullrequest). It needs only the standard library, so the trusted
// workflow that posts comments builds it in seconds, without the program or its SDKs.
package main

import (
	"os"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/pullrequest"
)

func main() {
	os.Exit(pullrequest.Command(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
