package fakecloud

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/kong-alb-eks/kong-alb-eks/stacks/synth/answers"
)

// Who calls AWS, and the tokens `aws eks get-token` gives them.
//
// Every process of the fake cloud (the aws plugin, the aws command) acts as one IAM principal:
// the role or user ARN PrincipalEnv names, or DeployerPrincipal. The plugin records the
// principal that creates an EKS cluster as its creator (Resource.Creator); in a world made with
// EnforceAccess, `aws eks get-token` signs a token naming the cluster and the principal, which
// Access (access.go) authenticates and then authorizes from the world's access entries.

// PrincipalEnv names the IAM principal (an IAM role or user ARN) the fake cloud's processes act
// as; the engine passes its environment to the plugins and they to the aws command.
const PrincipalEnv = "KONG_ALB_EKS_FAKE_PRINCIPAL"

// DeployerPrincipal is the principal when PrincipalEnv is unset: the role that deploys.
const DeployerPrincipal = "arn:aws:iam::" + answers.AccountID + ":role/kong-alb-eks-deployer"

// SessionName is the STS session name of every role session a fake principal holds.
const SessionName = "fakecloud"

// CallerPrincipal is the principal this process acts as.
func CallerPrincipal() (string, error) {
	arn := os.Getenv(PrincipalEnv)
	if arn == "" {
		return DeployerPrincipal, nil
	}
	if _, err := parsePrincipal(arn); err != nil {
		return "", fmt.Errorf("fakecloud: %s=%q: %w", PrincipalEnv, arn, err)
	}
	return arn, nil
}

// principal is an IAM role or user ARN, arn:aws:iam::ACCOUNT:role/PATH/NAME or
// arn:aws:iam::ACCOUNT:user/PATH/NAME (an access entry's principalArn).
type principal struct {
	arn, account, kind, name string // kind is role or user; name is without the path
}

var principalARN = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):(role|user)/((?:[\w+=,.@-]+/)*)([\w+=,.@-]+)$`)

func parsePrincipal(arn string) (principal, error) {
	m := principalARN.FindStringSubmatch(arn)
	if m == nil {
		return principal{}, errors.New("not an IAM role or user ARN (arn:aws:iam::ACCOUNT:role/NAME or user/NAME)")
	}
	return principal{arn: arn, account: m[1], kind: m[2], name: m[4]}, nil
}

// username is the Kubernetes user name EKS gives the principal of a STANDARD access entry that
// sets none: "The ARN of the user" for an IAM user; for a role "The STS ARN of the role when
// it's assumed. Amazon EKS appends {{SessionName}} to the role.", as
// arn:aws:sts::111122223333:assumed-role/my-role/{{SessionName}}, "If the ARN of the role that
// you specified contained a path, Amazon EKS removes it in the generated username." In the
// session name "the special character "@" is replaced with "-"" (amazon-eks-user-guide,
// latest/ug/manage-access/k8s-access/creating-access-entries.adoc, "Create access entries").
func (p principal) username() string {
	if p.kind == "user" {
		return p.arn
	}
	return "arn:aws:sts::" + p.account + ":assumed-role/" + p.name + "/" + strings.ReplaceAll(SessionName, "@", "-")
}

// uid is the user's UID as aws-iam-authenticator gives it, aws-iam-authenticator:ACCOUNT:USERID
// (authenticateEndpoint in kubernetes-sigs/aws-iam-authenticator, pkg/server/server.go), with a
// role or user ID derived from the ARN: IAM gives roles IDs beginning AROA, users AIDA.
func (p principal) uid() string {
	prefix := "AROA"
	if p.kind == "user" {
		prefix = "AIDA"
	}
	return "aws-iam-authenticator:" + p.account + ":" + prefix + strings.ToUpper(answers.HexOf(17, p.arn))
}

// Tokens.
//
// EKS's token is "k8s-aws-v1." and the base64url (unpadded) of a presigned STS
// GetCallerIdentity URL whose signed x-k8s-aws-id header names the cluster; the authenticator
// calls the URL to learn the principal, and refuses the token 15 minutes after its X-Amz-Date
// (GetWithSTS and Verify in kubernetes-sigs/aws-iam-authenticator, pkg/token/token.go:
// v1Prefix, presignedURLExpiration, maxTokenLenBytes). The fake's token is the same shape: an
// STS-looking URL carrying the cluster (X-K8s-Aws-Id), the principal and the session, signed
// with an HMAC-SHA256 under a key only the world's directory holds, so a test can neither
// forge nor alter one without the key.
const (
	tokenPrefix   = "k8s-aws-v1."
	tokenLifetime = 15 * time.Minute
	maxTokenLen   = 4096
	amzDate       = "20060102T150405Z"
	accessKeyFile = "access.key" // present only in a world that enforces access
)

// tokenClaims is what a valid token says.
type tokenClaims struct {
	cluster, principal, session string
	issued                      time.Time
}

// WorldOption changes how NewWorld makes a world.
type WorldOption func(*worldOptions)

type worldOptions struct{ enforceAccess bool }

// EnforceAccess makes a world in access mode: `aws eks get-token` answers a token of the caller
// (PrincipalEnv) for the cluster, which only an Access bound to the world accepts, instead of
// the endpoint's static token; the local API server then grants each principal what EKS would
// (access.go). Without it the static administrator token is given to every caller.
func EnforceAccess() WorldOption { return func(o *worldOptions) { o.enforceAccess = true } }

// makeAccessKey writes the world's token signing key.
func (w *World) makeAccessKey() error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(w.Dir, accessKeyFile), []byte(hex.EncodeToString(key)), 0o600)
}

// EnforcesAccess reports whether the world was made with EnforceAccess.
func (w *World) EnforcesAccess() (bool, error) {
	_, err := os.Stat(filepath.Join(w.Dir, accessKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (w *World) accessKey() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(w.Dir, accessKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("fakecloud: the world in %s does not enforce access (NewWorld without EnforceAccess): it has no tokens but the endpoint's", w.Dir)
	}
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(strings.TrimSpace(string(b)))
}

// Token is the token `aws eks get-token --cluster-name cluster` gives principal (an IAM role or
// user ARN) now, for a test to act as that principal (localcluster's DoAs). The world must
// enforce access.
func (w *World) Token(cluster, principal string) (string, error) {
	return w.token(cluster, principal, "", time.Now())
}

// token signs a token of principal for cluster, issued at now, from STS in region (the global
// endpoint when "").
func (w *World) token(cluster, principalARN, region string, now time.Time) (string, error) {
	if cluster == "" {
		return "", errors.New("fakecloud: a token needs a cluster name")
	}
	if _, err := parsePrincipal(principalARN); err != nil {
		return "", fmt.Errorf("fakecloud: a token for %q: %w", principalARN, err)
	}
	key, err := w.accessKey()
	if err != nil {
		return "", err
	}
	host := "sts.amazonaws.com"
	if region != "" {
		host = "sts." + region + ".amazonaws.com"
	}
	q := url.Values{
		"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"},
		"X-Amz-Date": {now.UTC().Format(amzDate)}, "X-Amz-Expires": {"60"},
		"X-K8s-Aws-Id": {cluster}, "X-Fakecloud-Principal": {principalARN}, "X-Fakecloud-Session": {SessionName},
	}
	signed := q.Encode()
	presigned := "https://" + host + "/?" + signed + "&X-Amz-Signature=" + signature(key, host, signed)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(presigned)), nil
}

// signature signs the host and the encoded query (url.Values.Encode sorts it by key).
func signature(key []byte, host, query string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(host + "\n" + query))
	return hex.EncodeToString(mac.Sum(nil))
}

// stsHost is an STS endpoint: the global one or a regional one.
var stsHost = regexp.MustCompile(`^sts(\.[a-z]{2}(-[a-z]+)+-[0-9])?\.amazonaws\.com$`)

// tokenParameters are the query parameters a token carries, each once.
var tokenParameters = []string{"Action", "Version", "X-Amz-Date", "X-Amz-Expires", "X-K8s-Aws-Id", "X-Fakecloud-Principal", "X-Fakecloud-Session", "X-Amz-Signature"}

// verifyToken checks a token's shape, signature and age, and says what it claims.
func verifyToken(key []byte, token string, now time.Time) (tokenClaims, error) {
	var c tokenClaims
	if len(token) > maxTokenLen {
		return c, errors.New("token is too large")
	}
	encoded, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return c, fmt.Errorf("token is missing the %q prefix", tokenPrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return c, fmt.Errorf("token is not base64url: %w", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		return c, fmt.Errorf("token is not a URL: %w", err)
	}
	if u.Scheme != "https" || !stsHost.MatchString(u.Host) || u.Path != "/" || u.User != nil || u.Fragment != "" {
		return c, fmt.Errorf("token is not a presigned STS URL: %s://%s%s", u.Scheme, u.Host, u.Path)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, fmt.Errorf("token's query: %w", err)
	}
	if len(q) != len(tokenParameters) {
		return c, errors.New("token has unexpected query parameters")
	}
	for _, k := range tokenParameters {
		if len(q[k]) != 1 {
			return c, fmt.Errorf("token must carry %s once", k)
		}
	}
	sig := q.Get("X-Amz-Signature")
	q.Del("X-Amz-Signature")
	want := signature(key, u.Host, q.Encode())
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return c, errors.New("token's signature does not match")
	}
	if q.Get("Action") != "GetCallerIdentity" {
		return c, errors.New("token is not a GetCallerIdentity request")
	}
	c = tokenClaims{cluster: q.Get("X-K8s-Aws-Id"), principal: q.Get("X-Fakecloud-Principal"), session: q.Get("X-Fakecloud-Session")}
	if c.issued, err = time.Parse(amzDate, q.Get("X-Amz-Date")); err != nil {
		return c, fmt.Errorf("token's X-Amz-Date: %w", err)
	}
	if age := now.Sub(c.issued); age > tokenLifetime || age < -time.Minute {
		return c, fmt.Errorf("token's X-Amz-Date %s is expired (15 minute expiration) or in the future", q.Get("X-Amz-Date"))
	}
	if c.cluster == "" {
		return c, errors.New("token names no cluster")
	}
	if _, err := parsePrincipal(c.principal); err != nil {
		return c, fmt.Errorf("token's principal: %w", err)
	}
	return c, nil
}
