package localcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// HeldAnnotation releases a held pod: kwok turns a pod that Options.Hold matches Ready only
// once the pod carries this annotation (the test's stand-in for whatever the real readiness
// probe waits on sets it).
const HeldAnnotation = "localcluster.kong-alb-eks.test/ready"

// Hold selects pods by a jq query over the pod (kwok's stage selector syntax) whose result is
// one of Values.
type Hold struct {
	Query  string
	Values []string
}

// writeStages writes kwok's stage file: the cached stages, with the pod-ready stage split when
// pods are held: pods no hold matches turn Ready as before, and pods a hold matches only once
// annotated HeldAnnotation.
func writeStages(bin, dir string, holds []Hold) (string, error) {
	raw, err := os.ReadFile(filepath.Join(bin, "kwok-stages.yaml"))
	if err != nil {
		return "", err
	}
	text := string(raw)
	if len(holds) > 0 {
		docs := strings.Split(text, "\n---\n")
		found := false
		for i, d := range docs {
			if !strings.Contains(d, "\n  name: pod-ready\n") {
				continue
			}
			found = true
			const anchor = "    matchExpressions:\n"
			if !strings.Contains(d, anchor) {
				return "", fmt.Errorf("kwok's pod-ready stage has no matchExpressions")
			}
			free := d
			stages := []string{}
			for n, h := range holds {
				free = strings.Replace(free, anchor, anchor+h.expression("NotIn"), 1)
				held := strings.Replace(d, anchor, anchor+h.expression("In")+
					fmt.Sprintf("    - key: %q\n      operator: Exists\n", `.metadata.annotations["`+HeldAnnotation+`"]`), 1)
				stages = append(stages, strings.Replace(held, "\n  name: pod-ready\n", fmt.Sprintf("\n  name: pod-ready-held-%d\n", n), 1))
			}
			docs[i] = strings.Join(append([]string{free}, stages...), "\n---\n")
		}
		if !found {
			return "", fmt.Errorf("kwok's stages have no pod-ready stage")
		}
		text = strings.Join(docs, "\n---\n")
	}
	path := filepath.Join(dir, "kwok-stages.yaml")
	return path, os.WriteFile(path, []byte(text), 0o600)
}

// expression is the hold as a kwok stage selector's match expression.
func (h Hold) expression(op string) string {
	values := ""
	for _, v := range h.Values {
		values += fmt.Sprintf("      - %q\n", v)
	}
	return fmt.Sprintf("    - key: %q\n      operator: %s\n      values:\n%s", h.Query, op, values)
}
