// Package pullrequest builds and posts the pull-request comments of the workflows in
// .github/workflows: the offline synth diff (the output of a pull request's own code, possibly
// from a fork) and the preview. Everything in a comment that a pull request controls is
// untrusted text: it goes under a fixed header, inside a code fence it cannot close, with its
// mentions neutralised. The package uses the standard library only, so that the trusted
// workflow builds it in seconds without compiling the program.
package pullrequest

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxCommentBytes keeps a comment under GitHub's limit of 65,536 characters.
const MaxCommentBytes = 60000

var (
	stackName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	commitSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// Section is one block of untrusted text, shown in a fence under a trusted title.
type Section struct {
	// Title is trusted text (the workflow's own words).
	Title string
	// Text is untrusted: it is shown verbatim as text, never as Markdown.
	Text string
	// Open shows the text at once; otherwise it is folded in <details>.
	Open bool
}

// Comment is a comment to create or update on a pull request.
type Comment struct {
	PR    int
	Stack string
	// Marker is the first line of the body: it finds the comment again on the next run.
	Marker string
	Body   string
}

// Kinds of comment, one of each per stack and pull request.
const (
	KindSynthDiff = "synth-diff"
	KindPreview   = "preview"
)

// Marker is the hidden first line that identifies a comment of kind for stack.
func Marker(kind, stack string) string {
	return fmt.Sprintf("<!-- kong-alb-eks:%s:%s -->", kind, stack)
}

// Build makes the body of a comment: the marker, a trusted heading, the fixed warning that
// what follows is the pull request's untrusted output, and each section fenced. Sections are
// cut to keep the body within MaxCommentBytes, saying so.
func Build(kind, stack, heading, warning string, sections []Section) (string, error) {
	if !stackName.MatchString(stack) {
		return "", fmt.Errorf("pullrequest: invalid stack name %q", stack)
	}
	var b strings.Builder
	b.WriteString(Marker(kind, stack) + "\n")
	b.WriteString("### " + heading + "\n\n")
	if warning != "" {
		b.WriteString("> " + warning + "\n\n")
	}
	budget := MaxCommentBytes - b.Len() - 200*len(sections)
	for i, s := range sections {
		text := Untrusted(s.Text)
		// Each remaining section gets an equal share of what is left.
		share := budget / (len(sections) - i)
		if len(text) > share {
			text = cut(text, share) + "\n[cut: the text was longer than a comment may be]"
		}
		budget -= len(text)
		fence := Fence(text)
		if s.Open {
			fmt.Fprintf(&b, "%s\n\n", s.Title)
		} else {
			fmt.Fprintf(&b, "<details><summary>%s</summary>\n\n", s.Title)
		}
		fmt.Fprintf(&b, "%stext\n%s\n%s\n", fence, text, fence)
		if !s.Open {
			b.WriteString("</details>\n")
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

// Untrusted makes text safe to show inside a fence: control characters other than tab and
// newline are dropped, invalid UTF-8 is replaced, and every @ is followed by a zero-width
// joiner so that no mention notifies anyone (GitHub renders no mention in a fence, but a text
// cut short could end one; this holds whatever the renderer does).
func Untrusted(text string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var b strings.Builder
	for _, r := range text {
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '@':
			b.WriteString("@\u200d")
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// Fence is a code fence of backticks longer than any run of backticks or tildes in text (at
// least three): by CommonMark, only a line of at least as many backticks closes it.
func Fence(text string) string {
	longest, run := 0, 0
	var prev rune
	for _, r := range text {
		if (r == '`' || r == '~') && (run == 0 || r == prev) {
			run++
		} else if r == '`' || r == '~' {
			run = 1
		} else {
			run = 0
		}
		prev = r
		longest = max(longest, run)
	}
	return strings.Repeat("`", max(3, longest+1))
}

// cut shortens text to at most n bytes, on a rune boundary.
func cut(text string, n int) string {
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(text[n]) {
		n--
	}
	return text[:n]
}
