// Command kong-alb-eks is the Pulumi program for Kong Gateway (hybrid mode) on EKS behind an
// ALB. Run by Pulumi with no arguments it deploys the stack; its subcommands are tools around
// the same program:
//
//	synth   the offline preview: the desired state under mocks, no credentials needed
package main

import (
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "synth":
			os.Exit(synth.Command(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	pulumi.Run(stacks.Run)
}
