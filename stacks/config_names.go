package stacks

import (
	"encoding/json"
	"os"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// namespace is the program's own config namespace: every key in it must be one the program
// declares. Keys of other namespaces (aws:, kubernetes:, ...) are their providers' to check.
const namespace = Project + ":"

// unknownKeys reports each key of the program's namespace that the program does not declare,
// naming the declared key that was probably meant when one is close. It serves the stack
// files (through the program and synth) and the portal's spec (through ConfigFromMap).
func unknownKeys(keys []string) Problems {
	var p Problems
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	for _, k := range sorted {
		if !strings.HasPrefix(k, namespace) {
			continue
		}
		if _, ok := LookupKey(k); ok {
			continue
		}
		p.add(k, "%s", unknownKeyMessage(strings.TrimPrefix(k, namespace)))
	}
	return p
}

// unknownKeyMessage says a key is not the program's, and which one was probably meant.
func unknownKeyMessage(name string) string {
	near := nearestKey(name)
	switch {
	case near != "" && strings.EqualFold(near, namespace+name):
		return "unknown configuration key (keys are case-sensitive): did you mean " + near + "?"
	case near != "":
		return "unknown configuration key: did you mean " + near + "?"
	}
	return "unknown configuration key (Pulumi.yaml lists the keys)"
}

// nearestKey is the declared key closest to name: the same but for case, or within a few
// edits of it (a typo), else "".
func nearestKey(name string) string {
	best, bestDist := "", 4
	for _, k := range configKeys {
		if strings.EqualFold(k.Name, name) {
			return k.FullKey()
		}
		if d := editDistance(strings.ToLower(k.Name), strings.ToLower(name)); d < bestDist {
			best, bestDist = k.FullKey(), d
		}
	}
	if bestDist > len(name)/3 { // a short name a few edits away is a different word
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (bytes: the keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// envConfigKeys are the keys of the stack's whole configuration, as the Pulumi engine gives
// them to a program it starts (PULUMI_CONFIG, a JSON object by fully qualified key). Empty
// when the program runs inline in the Automation API: the manager writes only a validated
// spec's keys.
func envConfigKeys() []string {
	raw := os.Getenv(pulumi.EnvConfig)
	if raw == "" {
		return nil
	}
	var m map[string]any
	if json.Unmarshal([]byte(raw), &m) != nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
