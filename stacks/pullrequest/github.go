package pullrequest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// DefaultBot is the login of the GITHUB_TOKEN's comments.
const DefaultBot = "github-actions[bot]"

// GitHub is the part of GitHub's REST API the comments need.
type GitHub struct {
	// API is the REST API's base URL (GITHUB_API_URL), such as https://api.github.com.
	API string
	// Token is the workflow's GITHUB_TOKEN. It is sent only to API.
	Token string
	// Repo is owner/name.
	Repo string
	// Bot is the login whose comments are ours; default DefaultBot.
	Bot  string
	HTTP *http.Client
}

func (g *GitHub) client() *http.Client {
	if g.HTTP != nil {
		return g.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// ErrNotTheRun: the pull request is not at the commit, or not from the repository, that the
// workflow run built; commenting would attach one pull request's output to another.
var ErrNotTheRun = errors.New("pullrequest: the pull request is not what the workflow run built")

// CheckHead checks that pull request pr's head is at runHeadSHA in runHeadRepo (the
// workflow_run event's head_sha and head_repository.full_name).
func (g *GitHub) CheckHead(ctx context.Context, pr int, runHeadSHA, runHeadRepo string) error {
	var pull struct {
		Head struct {
			SHA  string `json:"sha"`
			Repo *struct {
				FullName string `json:"full_name"`
			} `json:"repo"`
		} `json:"head"`
	}
	if _, err := g.do(ctx, http.MethodGet, fmt.Sprintf("%s/repos/%s/pulls/%d", g.API, g.Repo, pr), nil, &pull); err != nil {
		return err
	}
	repo := ""
	if pull.Head.Repo != nil {
		repo = pull.Head.Repo.FullName
	}
	switch {
	case pull.Head.SHA != runHeadSHA:
		return fmt.Errorf("%w: #%d is at %s now, the run built %s (it moved on, or the artifact names another pull request)", ErrNotTheRun, pr, pull.Head.SHA, runHeadSHA)
	case !strings.EqualFold(repo, runHeadRepo):
		return fmt.Errorf("%w: #%d comes from %q, the run from %q", ErrNotTheRun, pr, repo, runHeadRepo)
	}
	return nil
}

type issueComment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
	User struct {
		Login string `json:"login"`
	} `json:"user"`
}

// Upsert updates our comment that starts with c.Marker, or creates it. Every page of the pull
// request's comments is read, so a busy pull request still gets one comment per kind and stack.
func (g *GitHub) Upsert(ctx context.Context, c Comment) (created bool, err error) {
	if !strings.HasPrefix(c.Body, c.Marker+"\n") {
		return false, errors.New("pullrequest: the comment's body does not start with its marker")
	}
	bot := g.Bot
	if bot == "" {
		bot = DefaultBot
	}
	next := fmt.Sprintf("%s/repos/%s/issues/%d/comments?per_page=100", g.API, g.Repo, c.PR)
	for next != "" {
		var page []issueComment
		h, err := g.do(ctx, http.MethodGet, next, nil, &page)
		if err != nil {
			return false, err
		}
		for _, ic := range page {
			if ic.User.Login == bot && strings.HasPrefix(ic.Body, c.Marker+"\n") {
				_, err := g.do(ctx, http.MethodPatch, fmt.Sprintf("%s/repos/%s/issues/comments/%d", g.API, g.Repo, ic.ID),
					map[string]string{"body": c.Body}, nil)
				return false, err
			}
		}
		if next, err = nextPage(h, g.API); err != nil {
			return false, err
		}
	}
	_, err = g.do(ctx, http.MethodPost, fmt.Sprintf("%s/repos/%s/issues/%d/comments", g.API, g.Repo, c.PR),
		map[string]string{"body": c.Body}, nil)
	return err == nil, err
}

var linkNext = regexp.MustCompile(`<([^>]+)>;\s*rel="next"`)

// nextPage is the Link header's next page, which must be on the API's own host (the token
// goes with it).
func nextPage(h http.Header, api string) (string, error) {
	m := linkNext.FindStringSubmatch(h.Get("Link"))
	if m == nil {
		return "", nil
	}
	next, err := url.Parse(m[1])
	if err != nil {
		return "", fmt.Errorf("pullrequest: a next page link that is not a URL: %w", err)
	}
	base, err := url.Parse(api)
	if err != nil {
		return "", err
	}
	if next.Scheme != base.Scheme || next.Host != base.Host {
		return "", fmt.Errorf("pullrequest: the next page %q is not on %s", m[1], base.Host)
	}
	return next.String(), nil
}

func (g *GitHub) do(ctx context.Context, method, u string, body, into any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Authorization", "Bearer "+g.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := g.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("pullrequest: %s %s: %w", method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if res.StatusCode/100 != 2 {
		return nil, fmt.Errorf("pullrequest: %s %s: %s: %s", method, req.URL.Path, res.Status, truncate(string(b)))
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			return nil, fmt.Errorf("pullrequest: %s %s: %w", method, req.URL.Path, err)
		}
	}
	return res.Header, nil
}
