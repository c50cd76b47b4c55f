package components

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The RDS instance's fixed facts.
const (
	// PostgresPort is the port the instance listens on (RDS for PostgreSQL's default).
	PostgresPort = 5432
	// RDSDatabaseName and RDSMasterUser are the database the instance is created with and its
	// master user, which Kong connects as: the instance serves Kong alone.
	RDSDatabaseName = "kong"
	RDSMasterUser   = "kong"
	// RDSCACertificate is the certificate authority that signs the instance's server
	// certificate: RSA 2048, valid until 2061, the one RDS uses for new instances since 2024
	// (RDS User Guide, "Certificate authorities"). Kong verifies the server against the
	// region's bundle, which holds it.
	RDSCACertificate = "rds-ca-rsa2048-g1"
)

// RDSDatabaseArgs describes the control plane's RDS for PostgreSQL instance.
type RDSDatabaseArgs struct {
	// Identifier is the DB instance identifier; the subnet group, the parameter group and the
	// final snapshot are named after it.
	Identifier string
	VPCID      pulumi.StringInput
	// SubnetIDs are the private subnets, in at least two zones (RDS requires them even for a
	// single-AZ instance).
	SubnetIDs pulumi.StringArrayInput
	// ClientSecurityGroupID is the group whose members may connect: the EKS cluster security
	// group, which the managed nodes, and so the pods on them, carry.
	ClientSecurityGroupID pulumi.StringInput
	// EngineVersion is major.minor.
	EngineVersion       string
	InstanceClass       string
	AllocatedStorage    int
	MaxAllocatedStorage int // 0: no storage autoscaling
	MultiAZ             bool
	BackupRetentionDays int
	BackupWindow        string
	MaintenanceWindow   string
	DeletionProtection  bool
	ApplyImmediately    bool
	Tags                map[string]string
}

// RDSDatabase is an Amazon RDS for PostgreSQL instance for Kong's control plane: encrypted,
// private, reachable on 5432 from the cluster's pods only, TLS required, with automated
// backups and a final snapshot. It does not wait for the cluster: only its security group
// rule takes the cluster's group, so it is created while EKS is.
type RDSDatabase struct {
	pulumi.ResourceState

	// Address is the instance's DNS name, Port its port.
	Address pulumi.StringOutput `pulumi:"address"`
	Port    pulumi.IntOutput    `pulumi:"port"`
	// Password is the master password (secret), generated and kept in the stack's state.
	Password pulumi.StringOutput `pulumi:"password"`
	// FinalSnapshot is the name of the snapshot RDS takes when the instance is deleted.
	FinalSnapshot pulumi.StringOutput `pulumi:"finalSnapshotIdentifier"`
	Database      string              `pulumi:"database"`
	User          string              `pulumi:"user"`

	// Reachable is done when clients of ClientSecurityGroupID can connect: what Kong waits
	// for.
	Reachable []pulumi.Resource
}

// NewRDSDatabase creates the instance, its subnet group, parameter group and security group.
func NewRDSDatabase(ctx *pulumi.Context, name string, args *RDSDatabaseArgs, opts ...pulumi.ResourceOption) (*RDSDatabase, error) {
	if args == nil || args.Identifier == "" || args.VPCID == nil || args.SubnetIDs == nil || args.ClientSecurityGroupID == nil {
		return nil, fmt.Errorf("RDS database %s: identifier, VPC, subnets and the clients' security group are required", name)
	}
	major, _, ok := strings.Cut(args.EngineVersion, ".")
	if !ok || major == "" {
		return nil, fmt.Errorf("RDS database %s: engine version %q is not major.minor", name, args.EngineVersion)
	}
	d := &RDSDatabase{Database: RDSDatabaseName, User: RDSMasterUser}
	if err := ctx.RegisterComponentResource("kong-alb-eks:database:RDSDatabase", name, d, opts...); err != nil {
		return nil, err
	}
	if err := d.create(ctx, name, args, major); err != nil {
		return nil, fmt.Errorf("RDS database %s: %w", name, err)
	}
	return d, registerOutputs(ctx, d)
}

func (d *RDSDatabase) create(ctx *pulumi.Context, name string, args *RDSDatabaseArgs, major string) error {
	parent := pulumi.Parent(d)
	tags := pulumi.ToStringMap(args.Tags)

	subnets, err := rds.NewSubnetGroup(ctx, name, &rds.SubnetGroupArgs{
		Name:        pulumi.String(args.Identifier),
		Description: pulumi.String("Private subnets of Kong's control plane database"),
		SubnetIds:   args.SubnetIDs,
		Tags:        tags,
	}, parent)
	if err != nil {
		return err
	}
	// The family is part of the group and cannot change: a major version upgrade makes a new
	// group (another resource name, so the old one goes only once the instance has moved).
	params, err := rds.NewParameterGroup(ctx, name+"-postgres"+major, &rds.ParameterGroupArgs{
		Name:        pulumi.String(args.Identifier + "-postgres" + major),
		Family:      pulumi.String("postgres" + major),
		Description: pulumi.String("Kong's control plane database: TLS required"),
		Parameters: rds.ParameterGroupParameterArray{
			// Connections without TLS are refused. The group is the instance's from its
			// creation (or from a major upgrade, which restarts it), so the value holds from its
			// first start; pending-reboot is accepted for static and dynamic parameters alike.
			rds.ParameterGroupParameterArgs{Name: pulumi.String("rds.force_ssl"), Value: pulumi.String("1"), ApplyMethod: pulumi.String("pending-reboot")},
		},
		Tags: tags,
	}, parent)
	if err != nil {
		return err
	}
	groupName := args.Identifier + "-postgres"
	if strings.HasPrefix(groupName, "sg-") { // EC2 refuses group names that look like IDs
		groupName = "rds-" + groupName
	}
	group, err := ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		Name:        pulumi.String(groupName),
		Description: pulumi.String("Kong's control plane database: PostgreSQL from the cluster's pods only"),
		VpcId:       args.VPCID,
		// No egress rule: the database starts no connection. (The provider removes the
		// allow-all egress rule EC2 adds to a new group.)
		Tags: tags,
	}, parent)
	if err != nil {
		return err
	}
	rule, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-from-cluster", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId:           group.ID(),
		Description:               pulumi.String("PostgreSQL from the EKS cluster security group (nodes and pods)"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(PostgresPort),
		ToPort:                    pulumi.Int(PostgresPort),
		ReferencedSecurityGroupId: args.ClientSecurityGroupID,
		Tags:                      tags,
	}, parent)
	if err != nil {
		return err
	}

	password, err := random.NewRandomPassword(ctx, name+"-master", &random.RandomPasswordArgs{
		Length: pulumi.Int(40),
		// RDS refuses /, @, " and spaces in a master password; none at all keeps connection
		// strings free of quoting.
		Special: pulumi.Bool(false),
	}, parent)
	if err != nil {
		return err
	}
	// A destroyed and recreated stack takes a final snapshot again: the suffix keeps its name
	// from colliding with the last one's, which RDS would refuse.
	suffix, err := random.NewRandomId(ctx, name+"-final-snapshot", &random.RandomIdArgs{ByteLength: pulumi.Int(4)}, parent)
	if err != nil {
		return err
	}
	finalSnapshot := pulumi.Sprintf("%s-final-%s", args.Identifier, suffix.Hex)

	instanceArgs := &rds.InstanceArgs{
		Identifier:          pulumi.String(args.Identifier),
		Engine:              pulumi.String("postgres"),
		EngineVersion:       pulumi.String(args.EngineVersion),
		InstanceClass:       pulumi.String(args.InstanceClass),
		DbName:              pulumi.String(RDSDatabaseName),
		Username:            pulumi.String(RDSMasterUser),
		Password:            password.Result,
		Port:                pulumi.Int(PostgresPort),
		ParameterGroupName:  params.Name,
		DbSubnetGroupName:   subnets.Name,
		VpcSecurityGroupIds: pulumi.StringArray{group.ID()},
		PubliclyAccessible:  pulumi.Bool(false),
		CaCertIdentifier:    pulumi.String(RDSCACertificate),
		StorageType:         pulumi.String("gp3"),
		AllocatedStorage:    pulumi.Int(args.AllocatedStorage),
		// Encrypted with the account's aws/rds key; the setting is fixed at creation.
		StorageEncrypted:      pulumi.Bool(true),
		MultiAz:               pulumi.Bool(args.MultiAZ),
		BackupRetentionPeriod: pulumi.Int(args.BackupRetentionDays),
		BackupWindow:          pulumi.String(args.BackupWindow),
		MaintenanceWindow:     pulumi.String(args.MaintenanceWindow),
		CopyTagsToSnapshot:    pulumi.Bool(true),
		// The version is pinned: minor upgrades are changes of the configuration, applied in
		// the maintenance window or at once (ApplyImmediately). A major version needs a new
		// parameter group family, which the configuration's version brings.
		AutoMinorVersionUpgrade:  pulumi.Bool(false),
		AllowMajorVersionUpgrade: pulumi.Bool(true),
		ApplyImmediately:         pulumi.Bool(args.ApplyImmediately),
		DeletionProtection:       pulumi.Bool(args.DeletionProtection),
		SkipFinalSnapshot:        pulumi.Bool(false),
		FinalSnapshotIdentifier:  finalSnapshot,
		// The automated backups outlive the instance for their retention period (the
		// provider's default deletes them with it): point-in-time restore stays possible.
		DeleteAutomatedBackups: pulumi.Bool(false),
		// Performance Insights' seven days of history are free.
		PerformanceInsightsEnabled:         pulumi.Bool(PerformanceInsightsSupported(args.InstanceClass)),
		PerformanceInsightsRetentionPeriod: performanceInsightsRetention(args.InstanceClass),
		Tags:                               tags,
	}
	if args.MaxAllocatedStorage > 0 {
		instanceArgs.MaxAllocatedStorage = pulumi.Int(args.MaxAllocatedStorage)
	}
	instance, err := rds.NewInstance(ctx, name, instanceArgs, parent,
		// Protected like RDS's own deletion protection: a destroy, and a replacement, are
		// refused before anything is deleted (README, "Tearing down production").
		pulumi.Protect(args.DeletionProtection),
		// Creating a Multi-AZ instance takes up to an hour in the worst case; the provider's
		// own defaults are 40 minutes for create, 80 for update and 60 for delete.
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: "60m", Update: "80m", Delete: "60m"}))
	if err != nil {
		return err
	}
	d.Address = instance.Address
	d.Port = instance.Port
	d.Password = pulumi.ToSecret(password.Result).(pulumi.StringOutput)
	d.FinalSnapshot = instance.FinalSnapshotIdentifier.Elem()
	d.Reachable = []pulumi.Resource{instance, rule}
	return nil
}

// PerformanceInsightsSupported: RDS offers Performance Insights on every class but the
// smallest burstable ones (RDS User Guide, "Amazon RDS DB engine, Region, and instance class
// support for Performance Insights").
func PerformanceInsightsSupported(class string) bool {
	return !strings.HasSuffix(class, ".micro") && !strings.HasSuffix(class, ".small")
}

func performanceInsightsRetention(class string) pulumi.IntPtrInput {
	if !PerformanceInsightsSupported(class) {
		return nil
	}
	return pulumi.Int(7)
}
