// Command fakecloud is the fake cloud's one binary, run under the name it is installed as:
// pulumi-resource-aws or pulumi-resource-random (a plugin directory
// resource-NAME-vVERSION/ gives the version), or aws (only `aws eks get-token`).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kong-alb-eks/kong-alb-eks/tests/fakecloud"
)

func main() {
	if err := fakecloud.Main(filepath.Base(os.Args[0]), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, strings.TrimSpace(err.Error()))
		os.Exit(1)
	}
}
