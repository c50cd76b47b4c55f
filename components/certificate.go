package components

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/acm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Certificate modes.
const (
	CertificateModeACM    = "acm"
	CertificateModeImport = "import"
	CertificateModeARN    = "arn"
)

// CertificateArgs chooses the certificate the ALB serves for *.Domain and Domain.
type CertificateArgs struct {
	Domain string
	Mode   string

	// ZoneID is the public hosted zone the DNS validation record goes in (mode acm).
	ZoneID pulumi.StringInput
	// ARN of an existing ACM certificate (mode arn).
	ARN string
	// PEM body, chain and private key of a certificate to import (mode import). The private
	// key must be a secret.
	Body       string
	Chain      string
	PrivateKey pulumi.StringInput

	Tags map[string]string
}

// Certificate is the ALB's public certificate.
type Certificate struct {
	pulumi.ResourceState

	// ARN of the certificate; in mode acm it resolves only once ACM has issued it.
	ARN pulumi.StringOutput `pulumi:"arn"`
}

// NewCertificate requests, imports or adopts the certificate.
func NewCertificate(ctx *pulumi.Context, name string, args *CertificateArgs, opts ...pulumi.ResourceOption) (*Certificate, error) {
	if args == nil {
		return nil, fmt.Errorf("certificate %s: args are required", name)
	}
	c := &Certificate{}
	if err := ctx.RegisterComponentResource("kong-alb-eks:certificate:Certificate", name, c, opts...); err != nil {
		return nil, err
	}
	var err error
	switch args.Mode {
	case CertificateModeACM:
		c.ARN, err = c.request(ctx, name, args)
	case CertificateModeImport:
		c.ARN, err = c.importPEM(ctx, name, args)
	case CertificateModeARN:
		c.ARN = pulumi.String(args.ARN).ToStringOutput()
	default:
		err = fmt.Errorf("unknown mode %q", args.Mode)
	}
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", name, err)
	}
	return c, registerOutputs(ctx, c)
}

// request asks ACM for *.Domain and Domain and validates it by DNS. ACM gives both names the
// same validation record, so one record serves the two.
func (c *Certificate) request(ctx *pulumi.Context, name string, args *CertificateArgs) (pulumi.StringOutput, error) {
	if args.ZoneID == nil {
		return pulumi.StringOutput{}, fmt.Errorf("mode acm needs the hosted zone ID")
	}
	parent := pulumi.Parent(c)
	cert, err := acm.NewCertificate(ctx, name, &acm.CertificateArgs{
		DomainName:              pulumi.String("*." + args.Domain),
		SubjectAlternativeNames: pulumi.StringArray{pulumi.String(args.Domain)},
		ValidationMethod:        pulumi.String("DNS"),
		Tags:                    pulumi.ToStringMap(args.Tags),
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	option := cert.DomainValidationOptions.Index(pulumi.Int(0))
	record, err := route53.NewRecord(ctx, name+"-validation", &route53.RecordArgs{
		ZoneId:  args.ZoneID,
		Name:    option.ResourceRecordName().Elem(),
		Type:    option.ResourceRecordType().Elem(),
		Records: pulumi.StringArray{option.ResourceRecordValue().Elem()},
		Ttl:     pulumi.Int(60),
		// A record left by an earlier certificate for the same names has the same content.
		AllowOverwrite: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	validation, err := acm.NewCertificateValidation(ctx, name, &acm.CertificateValidationArgs{
		CertificateArn:        cert.Arn,
		ValidationRecordFqdns: pulumi.StringArray{record.Fqdn},
	}, parent, pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "45m"}))
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	return validation.CertificateArn, nil
}

// importPEM imports a certificate made elsewhere, for example a Let's Encrypt wildcard.
func (c *Certificate) importPEM(ctx *pulumi.Context, name string, args *CertificateArgs) (pulumi.StringOutput, error) {
	if args.Body == "" || args.PrivateKey == nil {
		return pulumi.StringOutput{}, fmt.Errorf("mode import needs the PEM body and private key")
	}
	certArgs := &acm.CertificateArgs{
		CertificateBody: pulumi.String(args.Body),
		PrivateKey:      pulumi.ToSecret(args.PrivateKey).(pulumi.StringOutput),
		Tags:            pulumi.ToStringMap(args.Tags),
	}
	if args.Chain != "" {
		certArgs.CertificateChain = pulumi.String(args.Chain)
	}
	cert, err := acm.NewCertificate(ctx, name, certArgs, pulumi.Parent(c))
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	return cert.Arn, nil
}
