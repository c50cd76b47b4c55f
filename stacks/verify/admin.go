package verify

// The checks of what adminAllowedCidrs publishes: the Admin API (answers inside the
// allowlist, refuses outside it, is never open to the world) and Kong Manager.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// adminVersion returns the version field of an Admin API root answer.
func adminVersion(resp *response) (string, bool) {
	if resp == nil || resp.status != http.StatusOK {
		return "", false
	}
	var m map[string]any
	if json.Unmarshal(bytes.TrimSpace(resp.body), &m) != nil {
		return "", false
	}
	v, ok := m["version"]
	if !ok || v == nil {
		return "", false
	}
	return fmt.Sprint(v), true
}

// kongRefusedPrefix starts the message of Kong's ip-restriction plugin when it refuses a
// client, and the address Kong sees follows it. In Kong 3.4 and later,
// kong/plugins/ip-restriction/handler.lua (Kong/kong) builds it in do_exit:
//
//	message = message or
//	          string.format("IP address not allowed: %s", ngx_var.remote_addr)
//	...
//	return kong.response.error(status, message)
//
// which answers {"message":"IP address not allowed: 203.0.113.9", ...} with status 403 (the
// plugin's status setting, unset here). Older Kong, or a message setting on the plugin, say
// "Your IP address is not allowed": no address to read.
const kongRefusedPrefix = "IP address not allowed: "

// refusedAddr returns the address a 403 of Kong's ip-restriction plugin names.
func refusedAddr(resp *response) (netip.Addr, bool) {
	if resp == nil || resp.status != http.StatusForbidden {
		return netip.Addr{}, false
	}
	msg, ok := kongMessage(resp.body)
	if !ok {
		return netip.Addr{}, false
	}
	rest, ok := strings.CutPrefix(msg, kongRefusedPrefix)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(strings.TrimSpace(rest))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// internalAddr reports whether a is an address no client on the internet has: private
// (RFC 1918, RFC 4193), loopback or link-local. Kong seeing one behind the internet-facing
// ALB sees the ALB's address (or another in the VPC), not the client's.
func internalAddr(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()
}

// refusal is what a 403 of Kong's ip-restriction plugin says about this machine.
type refusal struct {
	addr  netip.Addr // the address Kong refused; invalid when the answer names none
	blind bool       // addr is internal: Kong does not see client addresses at all
}

// kongRefusal reads the address Kong names in resp, a 403 of its ip-restriction plugin. A
// public address is this machine's as Kong sees it: without --source-ip it becomes the
// source address of the checks that follow.
func (r *run) kongRefusal(resp *response) refusal {
	a, ok := refusedAddr(resp)
	if !ok {
		return refusal{}
	}
	if internalAddr(a) {
		return refusal{addr: a, blind: true}
	}
	if !r.c.SourceIP.IsValid() && !r.learned.IsValid() {
		r.learned = a
	}
	return refusal{addr: a}
}

// blindDetail explains a 403 naming an internal address.
func blindDetail(u string, a netip.Addr) string {
	return fmt.Sprintf("%s answered 403 {\"message\":%q}: Kong sees %s, a private address (the ALB's or another in the VPC), not the client's: "+
		"it does not take client addresses from X-Forwarded-For (trusted_ips, real_ip_header), so its ip-restriction refuses every client",
		u, kongRefusedPrefix+a.String(), a)
}

func (r *run) checkAdmin() {
	start := time.Now()
	ctx := r.ctx
	out := r.out
	published := out.KongAdminAPIURL != ""
	u := out.KongAdminAPIURL
	if !published {
		u = "https://kong." + out.Domain + "/api"
	}
	resp, n, err := r.get(ctx, r.noFollow, u)
	version, answers := adminVersion(resp)
	refused := r.kongRefusal(resp)
	open, openWhy := out.adminOpen()
	src, label := r.source()
	srcKnown := src.IsValid()
	match, inside := out.adminAllows(src)
	// What Kong reported, when it is not what --source-ip says.
	seen := ""
	if refused.addr.IsValid() && refused.addr != src {
		seen = fmt.Sprintf(" (Kong reports this machine as %s)", refused.addr)
	}

	var st Status
	var detail string
	switch {
	case answers && open:
		st, detail = Fail, fmt.Sprintf("Admin API open to the world: %s answered the gateway configuration (version %s) and %s", u, version, openWhy)
	case !published && answers:
		st, detail = Fail, fmt.Sprintf("%s answers the gateway configuration (version %s) although the Admin API is not published (no kongAdminApiUrl output)", u, version)
	case !published && err != nil:
		st, detail = Skip, fmt.Sprintf("not published (no kongAdminApiUrl output); could not probe %s: %v", u, err)
	case !published:
		st, detail = Pass, fmt.Sprintf("not published (no kongAdminApiUrl output); %s answers %s, not the gateway configuration", u, resp.statusText())
	case refused.blind:
		st, detail = Fail, blindDetail(u, refused.addr)
	case srcKnown && !inside:
		st, detail = Skip, fmt.Sprintf("this machine (%s) is outside adminAllowedCidrs: answering cannot be tested from here (see %s)%s", label, CheckAdminAPIAllowlist, seen)
	case err != nil:
		st, detail = r.noAnswer(failedAfter(u, n, err), err)
	case answers:
		st, detail = Pass, fmt.Sprintf("%s → 200 JSON, version %s", u, version)
	case resp.status == http.StatusForbidden && !srcKnown:
		st, detail = Skip, fmt.Sprintf("%s answered 403: this machine looks outside adminAllowedCidrs (%s); run from an allowed network, or pass --source-ip", u, prefixes(out.AdminAllowedCIDRs))
	default:
		st, detail = Fail, fmt.Sprintf("%s answered %s %s, expected 200 JSON with a version field%s", u, resp.statusText(), resp.snippet(), seen)
	}
	if len(out.InvalidAdminCIDRs) > 0 {
		detail += fmt.Sprintf(" (ignored invalid adminAllowedCidrs entries: %s)", strings.Join(out.InvalidAdminCIDRs, ", "))
	}
	r.add(Result{Name: CheckAdminAPI, Status: st, Detail: detail, Duration: time.Since(start)})

	// Refusal from outside the allowlist, from the same answer.
	switch {
	case !published:
		st, detail = Skip, "the Admin API is not published"
	case open:
		st, detail = Skip, fmt.Sprintf("%s: there is no outside to refuse", openWhy)
	case refused.blind:
		st, detail = Skip, fmt.Sprintf("Kong refuses every client, seeing them all as %s (see %s): a refusal proves nothing", refused.addr, CheckAdminAPI)
	case !srcKnown:
		st, detail = Skip, "cannot tell whether this machine is outside adminAllowedCidrs: pass --source-ip with its public address"
	case inside:
		st, detail = Skip, fmt.Sprintf("this machine (%s) is inside adminAllowedCidrs (%s): refusal cannot be tested from here", label, match)
	case err != nil:
		st, detail = r.noAnswer(failedAfter(u, n, err), err)
	case resp.status == http.StatusForbidden:
		st, detail = Pass, fmt.Sprintf("%s refused %s (outside %s) with 403", u, label, prefixes(out.AdminAllowedCIDRs))
	case answers:
		st, detail = Fail, fmt.Sprintf("%s answered the gateway configuration to %s, which is outside adminAllowedCidrs (%s): the ip-restriction is not enforced",
			u, label, prefixes(out.AdminAllowedCIDRs))
	default:
		st, detail = Fail, fmt.Sprintf("%s answered %s %s to %s (outside adminAllowedCidrs), expected 403", u, resp.statusText(), resp.snippet(), label)
	}
	r.add(Result{Name: CheckAdminAPIAllowlist, Status: st, Detail: detail, Duration: time.Since(start)})
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func isHTML(resp *response) bool {
	return strings.Contains(strings.ToLower(resp.contentType()), "text/html") ||
		bytes.Contains(bytes.ToLower(resp.body), []byte("<html"))
}

func (r *run) checkManager(ctx context.Context) (Status, string) {
	u := r.out.KongManagerURL
	if u == "" {
		return Skip, "not published (no kongManagerUrl output: adminAllowedCidrs is empty)"
	}
	resp, n, err := r.get(ctx, r.follow, u)
	if err != nil {
		return r.noAnswer(failedAfter(u, n, err), err)
	}
	if resp.status == http.StatusOK && isHTML(resp) {
		return Pass, fmt.Sprintf("%s → 200 %s", u, resp.contentType())
	}
	if resp.status == http.StatusForbidden {
		// Kong Manager's route has the same ip-restriction as the Admin API's.
		if refused := r.kongRefusal(resp); refused.blind {
			return Fail, blindDetail(u, refused.addr)
		}
		src, label := r.source()
		if !src.IsValid() {
			return Skip, fmt.Sprintf("%s answered 403: this machine looks outside adminAllowedCidrs; run from an allowed network, or pass --source-ip", u)
		}
		if _, inside := r.out.adminAllows(src); !inside {
			return Skip, fmt.Sprintf("%s answered 403 to %s, outside adminAllowedCidrs: cannot be tested from here", u, label)
		}
	}
	return Fail, fmt.Sprintf("%s answered %s %s, expected 200 HTML", u, resp.statusText(), resp.snippet())
}
