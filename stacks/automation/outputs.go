package automation

import (
	"context"
	"strconv"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/opthistory"

	"github.com/kong-alb-eks/kong-alb-eks/stacks"
)

// Redacted replaces a secret output's value.
const Redacted = "[secret]"

// OutputValue is one stack output.
type OutputValue struct {
	Value  any  `json:"value"`
	Secret bool `json:"secret,omitempty"`
}

// Outputs are a stack's outputs by name.
type Outputs map[string]OutputValue

func redact(in auto.OutputMap) Outputs {
	out := make(Outputs, len(in))
	for k, v := range in {
		if v.Secret {
			out[k] = OutputValue{Value: Redacted, Secret: true}
			continue
		}
		out[k] = OutputValue{Value: v.Value}
	}
	return out
}

// Outputs returns the stack's outputs, secret ones redacted.
func (m *Manager) Outputs(ctx context.Context, name string) (Outputs, error) {
	out, err := m.outputs(ctx, name)
	if err != nil {
		return nil, err
	}
	return redact(out), nil
}

// OutputsWithSecrets returns the stack's outputs with the plaintext of the secret ones. Only
// call it to hand a secret to its owner; never log the result.
func (m *Manager) OutputsWithSecrets(ctx context.Context, name string) (Outputs, error) {
	out, err := m.outputs(ctx, name)
	if err != nil {
		return nil, err
	}
	res := make(Outputs, len(out))
	for k, v := range out {
		res[k] = OutputValue{Value: v.Value, Secret: v.Secret}
	}
	return res, nil
}

func (m *Manager) outputs(ctx context.Context, name string) (auto.OutputMap, error) {
	if err := stacks.ValidateStackName(name); err != nil {
		return nil, err
	}
	s, err := m.selectStack(ctx, name)
	if err != nil {
		return nil, err
	}
	out, err := s.Outputs(ctx)
	if err != nil {
		return nil, m.cliError(name, "reading the outputs of", err)
	}
	return out, nil
}

// Update is one entry of a stack's history.
type Update struct {
	Version   int       `json:"version"`
	Kind      string    `json:"kind"`
	Result    string    `json:"result"`
	Message   string    `json:"message,omitempty"`
	StartTime time.Time `json:"startTime"`
	EndTime   time.Time `json:"endTime,omitzero"`
	Changes   Changes   `json:"changes,omitempty"`
}

// History returns the stack's most recent updates, newest first (all of them if limit <= 0).
// stacks.Config values are not included (they would carry secrets).
func (m *Manager) History(ctx context.Context, name string, limit int) ([]Update, error) {
	if err := stacks.ValidateStackName(name); err != nil {
		return nil, err
	}
	s, err := m.selectStack(ctx, name)
	if err != nil {
		return nil, err
	}
	page := 0
	if limit > 0 {
		page = 1
	}
	hist, err := s.History(ctx, limit, page, opthistory.ShowSecrets(false))
	if err != nil {
		return nil, m.cliError(name, "reading the history of", err)
	}
	out := make([]Update, 0, len(hist))
	for _, h := range hist {
		u := Update{Version: h.Version, Kind: h.Kind, Result: h.Result, Message: h.Message, Changes: changesOf(h)}
		// The Automation API passes the message as --message=%q: the quotes are kept.
		if uq, err := strconv.Unquote(u.Message); err == nil {
			u.Message = uq
		}
		u.StartTime, _ = time.Parse(time.RFC3339, h.StartTime)
		if h.EndTime != nil {
			u.EndTime, _ = time.Parse(time.RFC3339, *h.EndTime)
		}
		out = append(out, u)
	}
	return out, nil
}
