// Command kong-alb-eks is the Pulumi program for Kong Gateway (hybrid mode) on EKS behind an
// ALB. Run by Pulumi with no arguments it deploys the stack; its subcommands are tools around
// the same program:
//
//	synth    the offline preview: the desired state under mocks, no credentials needed
//	         (--estimate: the modelled time to a working environment)
//	diff     the structural difference of two synth JSON documents
//	serve    the platform portal's HTTP API over the Automation API
//	verify   post-deploy checks of a stack from the outside
package main

import (
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/server"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth"
	"github.com/kong-alb-eks/kong-alb-eks/stacks/verify"
)

func main() {
	if len(os.Args) > 1 {
		args := os.Args[2:]
		switch os.Args[1] {
		case "synth":
			os.Exit(synth.Command(args, os.Stdout, os.Stderr))
		case "diff":
			os.Exit(synth.DiffCommand(args, os.Stdout, os.Stderr))
		case "serve":
			os.Exit(server.Command(args))
		case "verify":
			os.Exit(verify.Command(args, os.Stdout, os.Stderr))
		}
	}
	pulumi.Run(stacks.Run)
}
