package synth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"gopkg.in/yaml.v3"
)

// StackFile is a Pulumi.<stack>.yaml read for synth.
type StackFile struct {
	Config     map[string]string
	SecretKeys []string
}

type stackYAML struct {
	EncryptionSalt string               `yaml:"encryptionsalt"`
	Config         map[string]yaml.Node `yaml:"config"`
}

// StackFilePath is where a stack's config lives: Pulumi.<stack>.yaml in dir.
func StackFilePath(dir, stack string) string {
	return filepath.Join(dir, "Pulumi."+stack+".yaml")
}

// ReadStackFile reads a stack's config. Lists become JSON, as Pulumi passes them to programs.
// Secure values are decrypted with PULUMI_CONFIG_PASSPHRASE when the file has a passphrase
// salt; otherwise synth cannot show them and says so, naming the key.
func ReadStackFile(path string) (*StackFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading stack config: %w", err)
	}
	var doc stackYAML
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := &StackFile{Config: map[string]string{}}
	var decrypter config.Decrypter
	for _, k := range sortedKeys(doc.Config) {
		node := doc.Config[k]
		if cipher, ok := secureValue(&node); ok {
			if decrypter == nil {
				if decrypter, err = passphraseDecrypter(doc.EncryptionSalt); err != nil {
					return nil, fmt.Errorf("%s: %s is a secret: %w", path, k, err)
				}
			}
			plain, err := decrypter.DecryptValue(context.Background(), cipher)
			if err != nil {
				return nil, fmt.Errorf("%s: decrypting %s: %w", path, k, err)
			}
			out.Config[k] = plain
			out.SecretKeys = append(out.SecretKeys, k)
			continue
		}
		v, err := configString(&node)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, k, err)
		}
		out.Config[k] = v
	}
	sort.Strings(out.SecretKeys)
	return out, nil
}

// secureValue recognises `key: {secure: v1:...}`.
func secureValue(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 || n.Content[0].Value != "secure" {
		return "", false
	}
	return n.Content[1].Value, true
}

func configString(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value, nil
	case yaml.SequenceNode, yaml.MappingNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return "", err
		}
		b, err := json.Marshal(v)
		return string(b), err
	}
	return "", fmt.Errorf("unsupported YAML value")
}

// passphraseDecrypter opens a passphrase-protected stack file's secrets, as the Pulumi CLI
// does: the salt is "v1:<base64 salt>:<encrypted check value>".
func passphraseDecrypter(salt string) (config.Decrypter, error) {
	phrase, ok := os.LookupEnv("PULUMI_CONFIG_PASSPHRASE")
	if !ok {
		return nil, fmt.Errorf("set PULUMI_CONFIG_PASSPHRASE so synth can decrypt it")
	}
	parts := strings.SplitN(salt, ":", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return nil, fmt.Errorf("the stack file has no passphrase salt (secrets provider other than passphrase?)")
	}
	saltBytes, err := base64.StdEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("malformed encryptionsalt: %w", err)
	}
	crypter := config.NewSymmetricCrypterFromPassphrase(phrase, saltBytes)
	if check, err := crypter.DecryptValue(context.Background(), parts[2]); err != nil || check != "pulumi" {
		return nil, fmt.Errorf("PULUMI_CONFIG_PASSPHRASE is not this stack's passphrase")
	}
	return crypter, nil
}
