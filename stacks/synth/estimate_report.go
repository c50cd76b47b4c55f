package synth

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteEstimateText writes the estimate for people.
func WriteEstimateText(w io.Writer, e *Estimate) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Time from `pulumi up` to a working environment, %s/%s\n", e.Project, e.Stack)
	fmt.Fprintf(b, "(modelled: the longest path through the dependency graph, each resource at its type's typical time)\n\n")
	if e.ManagedNodes != nil {
		fmt.Fprintf(b, "EKS Auto Mode: %.1f min to a working environment; the same stack with a managed node group (clusterMode managed): %.1f min\n\n",
			e.Modelled.Minutes, *e.ManagedNodes)
	}
	writeSpan(b, "Modelled", e.Modelled)
	b.WriteString("\n")
	writeSpan(b, "Lower bound, keeping only the required edges", e.LowerBound)
	b.WriteString("\n")
	if e.ReachesLowerBound {
		b.WriteString("The program's graph reaches the lower bound: no edge it adds costs time.\n")
	} else {
		fmt.Fprintf(b, "The program's graph is %.1f min above the lower bound. Edges that cost time:\n",
			e.Modelled.Minutes-e.LowerBound.Minutes)
		for _, c := range e.CostlyEdges {
			fmt.Fprintf(b, "  %s waits on %s: %.1f min (%s)\n", shortURN(c.Waiter), shortURN(c.Waited), c.CostMinutes, c.Why)
		}
		if len(e.CostlyEdges) == 0 {
			b.WriteString("  none alone: several edges that no rule requires lengthen parallel paths together\n")
		}
	}
	if len(e.UnlistedTypes) > 0 {
		fmt.Fprintf(b, "Types with no timing rule (taken as an API call): %s\n", strings.Join(e.UnlistedTypes, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSpan(b *strings.Builder, title string, s Span) {
	fmt.Fprintf(b, "%s: %.1f min (%.1f to %.1f with every resource at its low or high time)\n",
		title, s.Minutes, s.LowMinutes, s.HighMinutes)
	for _, c := range s.Conditions {
		if c.Met {
			fmt.Fprintf(b, "  %-24s at %5.1f min\n", c.Name, c.Minutes)
		} else {
			fmt.Fprintf(b, "  %-24s NEVER: %s\n", c.Name, c.Why)
		}
	}
	fmt.Fprintf(b, "  %6s %6s  %s\n", "took", "done", "resource")
	for _, st := range s.CriticalPath {
		fmt.Fprintf(b, "  %6.1f %6.1f  %s %q (%s)\n", st.Minutes, st.FinishMinutes, st.Type, st.Name, st.What)
	}
}

// WriteEstimateJSON writes the estimate as indented JSON.
func WriteEstimateJSON(w io.Writer, e *Estimate) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(e)
}
