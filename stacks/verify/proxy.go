package verify

// The checks of Kong's proxy: an unknown host gets Kong's 404, the demo app answers.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Kong's answer when no route matches.
const kongNoRoute = "no Route matched with those values"

// kongMessage returns the message field of a JSON answer of Kong's.
func kongMessage(body []byte) (string, bool) {
	var m struct {
		Message *string `json:"message"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &m) != nil || m.Message == nil {
		return "", false
	}
	return *m.Message, true
}

func (r *run) checkUnknownHost(ctx context.Context) (Status, string) {
	u := "https://" + r.label + "/"
	resp, n, err := r.get(ctx, r.noFollow, u)
	if err != nil {
		return r.noAnswer(failedAfter(u, n, err), err)
	}
	msg, isJSON := kongMessage(resp.body)
	if resp.status == http.StatusNotFound && isJSON && msg == kongNoRoute {
		return Pass, fmt.Sprintf("%s → 404 {\"message\":%q} from Kong", u, kongNoRoute)
	}
	return Fail, fmt.Sprintf("%s answered %s %s, expected Kong's 404 {\"message\":%q}",
		u, resp.statusText(), resp.snippet(), kongNoRoute)
}

func (r *run) checkDemo(ctx context.Context) (Status, string) {
	u := r.out.DemoURL
	if u == "" {
		return Skip, "the demo app is not deployed (no demoUrl output)"
	}
	resp, n, err := r.get(ctx, r.follow, u)
	if err != nil {
		return r.noAnswer(failedAfter(u, n, err), err)
	}
	if resp.status == http.StatusOK {
		return Pass, fmt.Sprintf("%s → 200 %s", u, resp.contentType())
	}
	hint := ""
	if msg, ok := kongMessage(resp.body); ok && msg == kongNoRoute {
		hint = ": Kong has no route for it (Ingress of class kong not picked up?)"
	}
	return Fail, fmt.Sprintf("%s answered %s %s after %s%s", u, resp.statusText(), resp.snippet(), plural(n, "attempt"), hint)
}
