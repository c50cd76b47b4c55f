package stacks

import (
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// databaseTestConfig is the default configuration with the three values that have no default:
// valid, with the bundled database (database unset, no postgresHost).
func databaseTestConfig() Config {
	c := DefaultConfig()
	c.Region, c.Domain, c.HostedZone = "us-west-2", "api.example.com", "example.com"
	return c
}

// rdsTestConfig is databaseTestConfig with database rds and the RDS defaults: valid.
func rdsTestConfig() Config {
	c := databaseTestConfig()
	c.Database.Kind = DatabaseRDS
	return c
}

// validationProblems is what Validate says of c: nil when it accepts it.
func validationProblems(t *testing.T, c Config) Problems {
	t.Helper()
	err := c.Validate()
	if err == nil {
		return nil
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("want a *ValidationError, got %v", err)
	}
	return verr.Problems
}

func problemKeys(problems Problems) []string {
	keys := make([]string, len(problems))
	for i, p := range problems {
		keys[i] = p.Key
	}
	sort.Strings(keys)
	return keys
}

func TestDatabaseTestConfigsAreValid(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]Config{"bundled (database unset)": databaseTestConfig(), "rds": rdsTestConfig()} {
		if p := validationProblems(t, c); p != nil {
			t.Errorf("%s: %v", name, p)
		}
	}
}

func TestEffectiveDatabase(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		kind, host, want string
	}{
		{"", "", DatabaseBundled},
		{"", "db.internal", DatabaseExternal},
		{DatabaseBundled, "", DatabaseBundled},
		{DatabaseRDS, "", DatabaseRDS},
		{DatabaseExternal, "db.internal", DatabaseExternal},
		{DatabaseRDS, "db.internal", DatabaseRDS}, // refused by validation, but rds is what was asked
	} {
		cfg := databaseTestConfig()
		cfg.Database.Kind, cfg.Kong.PostgresHost = c.kind, c.host
		if got := cfg.EffectiveDatabase(); got != c.want {
			t.Errorf("database %q, postgresHost %q: EffectiveDatabase = %q, want %q", c.kind, c.host, got, c.want)
		}
	}
}

// Each case is refused with a problem for key saying each of messages (and none saying
// notMessage); also lists the keys of the other problems the configuration has, if any.
func TestDatabaseConfigurationsRefused(t *testing.T) {
	t.Parallel()
	const p = "kong-alb-eks:"
	rds := func(change func(*DatabaseConfig)) func(*Config) {
		return func(c *Config) {
			c.Database.Kind = DatabaseRDS
			change(&c.Database)
		}
	}
	engine := func(v string) func(*Config) { return rds(func(d *DatabaseConfig) { d.EngineVersion = v }) }
	class := func(v string) func(*Config) { return rds(func(d *DatabaseConfig) { d.InstanceClass = v }) }
	windows := func(backup, maintenance string) func(*Config) {
		return rds(func(d *DatabaseConfig) { d.BackupWindow, d.MaintenanceWindow = backup, maintenance })
	}
	caBundle := func(v string) func(*Config) { return rds(func(d *DatabaseConfig) { d.CABundle = v }) }
	const unsupported = "is not one the control plane runs on: expected major version 14, 15, 16, 17"
	const majorMinor = "expected an RDS for PostgreSQL engine version as major.minor, such as 17.6"
	const classForm = "expected an RDS DB instance class such as db.m7g.large"
	const caForm = "expected an https:// URL or the path of a local .pem file"

	for _, c := range []struct {
		name       string
		change     func(*Config)
		key        string
		messages   []string
		notMessage string
		also       []string
	}{
		// RDS settings without the RDS instance (validateRelations).
		{"Multi-AZ on the bundled database", func(c *Config) { c.Database.MultiAZ = true },
			p + "databaseMultiAz", []string{"only used for the RDS instance (database rds)", "its default is false"}, "", nil},
		{"an instance class on the bundled database", func(c *Config) { c.Database.InstanceClass = "db.m7g.large" },
			p + "databaseInstanceClass", []string{"only used for the RDS instance", "its default is db.t4g.medium"}, "", nil},
		{"retention on an external database", func(c *Config) {
			c.Kong.PostgresHost, c.Kong.PostgresPassword, c.Database.BackupRetentionDays = "db.internal", "s3cret", 14
		}, p + "databaseBackupRetentionDays", []string{"only used for the RDS instance"}, "", nil},
		{"deletion protection off on the bundled database", func(c *Config) { c.Database.DeletionProtection = false },
			p + "databaseDeletionProtection", []string{"only used for the RDS instance", "its default is true"}, "", nil},

		// Backups.
		{"retention 0 with deletion protection", rds(func(d *DatabaseConfig) { d.BackupRetentionDays = 0 }),
			p + "databaseBackupRetentionDays", []string{"0 turns automated backups", "keep at least 1 day"}, "", nil},
		{"retention 36", rds(func(d *DatabaseConfig) { d.BackupRetentionDays = 36 }),
			p + "databaseBackupRetentionDays", []string{"expected days of automated backups from 0 to 35, got 36"}, "", nil},
		{"retention -1", rds(func(d *DatabaseConfig) { d.BackupRetentionDays = -1 }),
			p + "databaseBackupRetentionDays", []string{"from 0 to 35, got -1"}, "", nil},

		// Engine versions.
		{"PostgreSQL 13", engine("13.20"), p + "databaseEngineVersion", []string{"PostgreSQL 13 " + unsupported}, "", nil},
		{"PostgreSQL 18", engine("18.1"), p + "databaseEngineVersion", []string{"PostgreSQL 18 " + unsupported}, "", nil},
		{"PostgreSQL 9.6", engine("9.6"), p + "databaseEngineVersion", []string{"PostgreSQL 9 " + unsupported}, "", nil},
		{"a major version alone", engine("17"), p + "databaseEngineVersion", []string{majorMinor, `got "17"`}, "", nil},
		{"latest", engine("latest"), p + "databaseEngineVersion", []string{majorMinor, `got "latest": versions are pinned`}, "", nil},
		{"three parts", engine("17.6.1"), p + "databaseEngineVersion", []string{majorMinor, `got "17.6.1"`}, "", nil},
		{"no engine version", engine(""), p + "databaseEngineVersion", []string{majorMinor, "got nothing: versions are pinned"}, "", nil},

		// Instance classes.
		{"an EC2 instance type", class("m7g.large"), p + "databaseInstanceClass", []string{classForm, `got "m7g.large"`, "did you mean db.m7g.large?"}, "", nil},
		{"Aurora Serverless", class("db.serverless"), p + "databaseInstanceClass", []string{classForm, `got "db.serverless"`}, "did you mean", nil},
		{"no size", class("db.m7g"), p + "databaseInstanceClass", []string{classForm, `got "db.m7g"`}, "did you mean", nil},
		{"upper case", class("DB.M7G.LARGE"), p + "databaseInstanceClass", []string{classForm, `got "DB.M7G.LARGE"`}, "", nil},
		{"no instance class", class(""), p + "databaseInstanceClass", []string{classForm, `got ""`}, "did you mean", nil},

		// Storage.
		{"storage below 20 GiB", rds(func(d *DatabaseConfig) { d.AllocatedStorage = 19 }),
			p + "databaseAllocatedStorage", []string{"expected GiB of gp3 storage from 20 to 65536, got 19"}, "", nil},
		{"storage above 64 TiB", rds(func(d *DatabaseConfig) { d.AllocatedStorage, d.MaxAllocatedStorage = 65537, 0 }),
			p + "databaseAllocatedStorage", []string{"from 20 to 65536, got 65537"}, "", nil},
		{"autoscaling ceiling below 110 %", rds(func(d *DatabaseConfig) { d.AllocatedStorage, d.MaxAllocatedStorage = 100, 109 }),
			p + "databaseMaxAllocatedStorage", []string{"expected 0 (no storage autoscaling) or a ceiling from 110 GiB", "got 109"}, "", nil},
		{"autoscaling ceiling 10 % above, rounded down", rds(func(d *DatabaseConfig) { d.AllocatedStorage, d.MaxAllocatedStorage = 25, 27 }),
			p + "databaseMaxAllocatedStorage", []string{"a ceiling from 28 GiB", "got 27"}, "", nil},
		{"autoscaling ceiling the allocated storage", rds(func(d *DatabaseConfig) { d.AllocatedStorage, d.MaxAllocatedStorage = 100, 100 }),
			p + "databaseMaxAllocatedStorage", []string{"from 110 GiB (10 % above databaseAllocatedStorage) to 65536 GiB, got 100"}, "", nil},
		{"autoscaling ceiling above 64 TiB", rds(func(d *DatabaseConfig) { d.MaxAllocatedStorage = 65537 }),
			p + "databaseMaxAllocatedStorage", []string{"to 65536 GiB, got 65537"}, "", nil},

		// Windows.
		{"backup window of 20 minutes", windows("03:00-03:20", "sun:04:00-sun:04:30"),
			p + "databaseBackupWindow", []string{"expected a daily window in UTC as hh24:mi-hh24:mi of at least 30 minutes", `got "03:00-03:20"`}, "", nil},
		{"backup window of no length", windows("03:00-03:00", "sun:04:00-sun:04:30"),
			p + "databaseBackupWindow", []string{"at least 30 minutes", `got "03:00-03:00"`}, "", nil},
		{"backup window without leading zeros", windows("3:00-3:30", "sun:04:00-sun:04:30"),
			p + "databaseBackupWindow", []string{"hh24:mi-hh24:mi", `got "3:00-3:30"`}, "", nil},
		{"backup window with spaces", windows("03:00 - 03:30", "sun:04:00-sun:04:30"),
			p + "databaseBackupWindow", []string{"such as 03:00-03:30", `got "03:00 - 03:30"`}, "", nil},
		{"backup window at 24:00", windows("24:00-00:30", "sun:04:00-sun:04:30"),
			p + "databaseBackupWindow", []string{"hh24:mi-hh24:mi", `got "24:00-00:30"`}, "", nil},
		{"maintenance window without days", windows("03:00-03:30", "04:00-04:30"),
			p + "databaseMaintenanceWindow", []string{"expected a weekly window in UTC as ddd:hh24:mi-ddd:hh24:mi of at least 30 minutes", `got "04:00-04:30"`}, "", nil},
		{"maintenance window with a day in full", windows("03:00-03:30", "sunday:04:00-sunday:04:30"),
			p + "databaseMaintenanceWindow", []string{"ddd:hh24:mi-ddd:hh24:mi", "such as sun:04:00-sun:04:30"}, "", nil},
		{"maintenance window of 10 minutes", windows("03:00-03:30", "sun:04:00-sun:04:10"),
			p + "databaseMaintenanceWindow", []string{"at least 30 minutes", `got "sun:04:00-sun:04:10"`}, "", nil},
		{"maintenance window inside the backup window", windows("03:00-03:30", "sun:03:15-sun:03:45"),
			p + "databaseMaintenanceWindow", []string{"sun:03:15-sun:03:45 overlaps the daily backup window 03:00-03:30", "RDS refuses overlapping windows"}, "", nil},
		{"maintenance window on another weekday", windows("03:00-03:30", "wed:02:50-wed:03:20"),
			p + "databaseMaintenanceWindow", []string{"overlaps the daily backup window"}, "", nil},
		{"maintenance window past Sunday midnight", windows("00:00-00:30", "sun:23:50-mon:00:20"),
			p + "databaseMaintenanceWindow", []string{"sun:23:50-mon:00:20 overlaps the daily backup window 00:00-00:30"}, "", nil},
		{"backup window past Sunday midnight into the maintenance", windows("23:45-00:15", "mon:00:00-mon:00:30"),
			p + "databaseMaintenanceWindow", []string{"mon:00:00-mon:00:30 overlaps the daily backup window 23:45-00:15"}, "", nil},
		{"a day-long maintenance window", windows("12:00-12:30", "mon:00:00-mon:23:59"),
			p + "databaseMaintenanceWindow", []string{"overlaps the daily backup window 12:00-12:30"}, "", nil},

		// The CA bundle.
		{"CA bundle over plain HTTP", caBundle("http://x/y.pem"), p + "databaseCaBundle", []string{caForm, `got "http://x/y.pem"`}, "", nil},
		{"CA bundle over FTP", caBundle("ftp://mirror.example.com/rds.pem"), p + "databaseCaBundle", []string{caForm, `got "ftp://mirror.example.com/rds.pem"`}, "", nil},
		{"CA bundle not a .pem file", caBundle("bundle.txt"), p + "databaseCaBundle", []string{caForm, `got "bundle.txt"`}, "", nil},
		{"CA bundle from S3", caBundle("s3://bucket/rds.pem"), p + "databaseCaBundle", []string{caForm}, "", nil},

		// The choice of database.
		{"Aurora", func(c *Config) { c.Database.Kind = "aurora" },
			p + "database", []string{`expected "bundled"`, `"rds"`, `"external"`, `got "aurora"`}, "", nil},
		{"a choice in upper case", func(c *Config) { c.Database.Kind = "RDS" },
			p + "database", []string{`expected "bundled"`, `got "RDS"`}, "", nil},
		{"external without postgresHost", func(c *Config) { c.Database.Kind = DatabaseExternal },
			p + "postgresHost", []string{"required with database external", "the host of the database Kong connects to"}, "",
			// Without a host, the external database's password is missing too.
			[]string{p + "postgresPassword"}},
		{"rds with postgresHost", func(c *Config) {
			c.Database.Kind, c.Kong.PostgresHost = DatabaseRDS, "kong.abc123.us-west-2.rds.amazonaws.com"
		},
			p + "postgresHost", []string{"only used with database external, but database is rds", "set database to external"}, "", nil},
		{"bundled with postgresHost", func(c *Config) { c.Database.Kind, c.Kong.PostgresHost = DatabaseBundled, "db.internal" },
			p + "postgresHost", []string{"only used with database external, but database is bundled"}, "", nil},
		{"postgresPassword with rds", func(c *Config) { c.Database.Kind, c.Kong.PostgresPassword = DatabaseRDS, "hunter2-secret" },
			p + "postgresPassword", []string{"the RDS instance's password is generated and kept in the stack's state"}, "hunter2-secret", nil},
		{"postgresPassword with the bundled database", func(c *Config) { c.Kong.PostgresPassword = "hunter2-secret" },
			p + "postgresPassword", []string{"the bundled PostgreSQL's passwords are generated"}, "hunter2-secret", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := databaseTestConfig()
			c.change(&cfg)
			problems := validationProblems(t, cfg)
			want := append([]string{c.key}, c.also...)
			sort.Strings(want)
			if got := problemKeys(problems); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("problems = %v, want one for each of %v", problems, want)
			}
			for _, pr := range problems {
				if pr.Key != c.key {
					continue
				}
				for _, m := range c.messages {
					if !strings.Contains(pr.Message, m) {
						t.Errorf("%s: %q does not say %q", pr.Key, pr.Message, m)
					}
				}
				if c.notMessage != "" && strings.Contains(pr.Message, c.notMessage) {
					t.Errorf("%s: %q says %q", pr.Key, pr.Message, c.notMessage)
				}
			}
			for _, pr := range problems {
				if _, known := LookupKey(pr.Key); !known {
					t.Errorf("the problem names %s, which is no config key", pr.Key)
				}
			}
		})
	}
}

func TestDatabaseConfigurationsAccepted(t *testing.T) {
	t.Parallel()
	rds := func(change func(*DatabaseConfig)) func(*Config) {
		return func(c *Config) {
			c.Database.Kind = DatabaseRDS
			change(&c.Database)
		}
	}
	cases := []struct {
		name   string
		change func(*Config)
	}{
		{"the bundled database, named", func(c *Config) { c.Database.Kind = DatabaseBundled }},
		{"an external database, named", func(c *Config) {
			c.Database.Kind, c.Kong.PostgresHost, c.Kong.PostgresPassword = DatabaseExternal, "db.internal", "s3cret"
		}},
		{"an external database by postgresHost alone", func(c *Config) { c.Kong.PostgresHost, c.Kong.PostgresPassword = "db.internal", "s3cret" }},
		{"rds with the defaults", rds(func(*DatabaseConfig) {})},
		{"rds, Multi-AZ", rds(func(d *DatabaseConfig) { d.MultiAZ, d.ApplyImmediately = true, true })},
		{"retention 0 without deletion protection", rds(func(d *DatabaseConfig) { d.BackupRetentionDays, d.DeletionProtection = 0, false })},
		{"retention 35", rds(func(d *DatabaseConfig) { d.BackupRetentionDays = 35 })},
		{"storage 20 GiB without autoscaling", rds(func(d *DatabaseConfig) { d.AllocatedStorage, d.MaxAllocatedStorage = 20, 0 })},
		{"storage 64 TiB without autoscaling", rds(func(d *DatabaseConfig) { d.AllocatedStorage, d.MaxAllocatedStorage = 65536, 0 })},
		{"autoscaling ceiling exactly 10 % above", rds(func(d *DatabaseConfig) { d.AllocatedStorage, d.MaxAllocatedStorage = 100, 110 })},
		{"autoscaling ceiling 10 % above, rounded up", rds(func(d *DatabaseConfig) { d.AllocatedStorage, d.MaxAllocatedStorage = 25, 28 })},
		{"autoscaling ceiling 64 TiB", rds(func(d *DatabaseConfig) { d.AllocatedStorage, d.MaxAllocatedStorage = 1000, 65536 })},
		{"maintenance window past Sunday midnight, clear of the backups", rds(func(d *DatabaseConfig) {
			d.BackupWindow, d.MaintenanceWindow = "01:00-01:30", "sun:23:50-mon:00:20"
		})},
		{"backup window past midnight, clear of the maintenance", rds(func(d *DatabaseConfig) {
			d.BackupWindow, d.MaintenanceWindow = "23:45-00:15", "wed:01:00-wed:01:30"
		})},
		{"days in RDS's own spelling", rds(func(d *DatabaseConfig) { d.MaintenanceWindow = "Sun:04:00-Sun:04:30" })},
		{"long windows", rds(func(d *DatabaseConfig) { d.BackupWindow, d.MaintenanceWindow = "01:00-04:00", "sat:05:00-sun:00:00" })},
		{"CA bundle from a mirror", rds(func(d *DatabaseConfig) { d.CABundle = "https://mirror.example.com/rds.pem" })},
		{"CA bundle from a file", rds(func(d *DatabaseConfig) { d.CABundle = "/etc/rds/bundle.pem" })},
		{"CA bundle from a relative file", rds(func(d *DatabaseConfig) { d.CABundle = "certs/rds.pem" })},
	}
	for _, v := range []string{"14.19", "15.14", "16.10", "17.6", "17.0"} {
		cases = append(cases, struct {
			name   string
			change func(*Config)
		}{"engine " + v, rds(func(d *DatabaseConfig) { d.EngineVersion = v })})
	}
	for _, class := range []string{"db.t4g.medium", "db.t3.micro", "db.m7g.large", "db.r6gd.2xlarge", "db.m5.24xlarge", "db.x2g.metal", "db.r7i.48xlarge", "db.x2iedn.xlarge"} {
		cases = append(cases, struct {
			name   string
			change func(*Config)
		}{"instance class " + class, rds(func(d *DatabaseConfig) { d.InstanceClass = class })})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := databaseTestConfig()
			c.change(&cfg)
			if p := validationProblems(t, cfg); p != nil {
				t.Errorf("refused: %v", p)
			}
		})
	}
}

// A stack with several bad RDS values hears of all of them in one run.
func TestEveryRDSProblemIsReportedAtOnce(t *testing.T) {
	t.Parallel()
	cfg := rdsTestConfig()
	d := &cfg.Database
	d.EngineVersion = "13.20"
	d.InstanceClass = "m7g.large"
	d.AllocatedStorage = 10
	d.MaxAllocatedStorage = 65537
	d.BackupRetentionDays = 36
	d.BackupWindow = "3:00-3:30"
	d.MaintenanceWindow = "sunday 04:00"
	d.CABundle = "bundle.txt"
	cfg.Kong.PostgresPassword = "s3cret"
	problems := validationProblems(t, cfg)
	const p = "kong-alb-eks:"
	want := []string{
		p + "databaseAllocatedStorage", p + "databaseBackupRetentionDays", p + "databaseBackupWindow", p + "databaseCaBundle",
		p + "databaseEngineVersion", p + "databaseInstanceClass", p + "databaseMaintenanceWindow", p + "databaseMaxAllocatedStorage",
		p + "postgresPassword",
	}
	if got := problemKeys(problems); len(problems) != 9 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%d problems %v, want 9, one for each of %v", len(problems), problems, want)
	}
}

var rdsIdentifierForm = regexp.MustCompile(`^[a-z](-?[a-z0-9])*$`)

func TestDatabaseIdentifier(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 62) + "_b" // the 63rd character of the identifier is a hyphen
	for _, c := range []struct {
		clusterName, stack, want string
	}{
		{"kong-prod", "prod", "kong-prod-kong"},
		{"Kong_Prod", "prod", "kong-prod-kong"},
		{"Kong__Prod", "prod", "kong-prod-kong"},
		{"kong-", "prod", "kong-kong"},
		{"1kong", "prod", "db-1kong-kong"},
		{"", "dev", "kong-alb-eks-dev-kong"},
		{"", "Team_1", "kong-alb-eks-team-1-kong"},
		{long, "prod", strings.Repeat("a", 62)},
		{strings.Repeat("k", 100), "prod", strings.Repeat("k", 63)},
		{"9" + strings.Repeat("x", 60), "prod", "db-9" + strings.Repeat("x", 59)},
	} {
		cfg := databaseTestConfig()
		cfg.Cluster.Name = c.clusterName
		got := cfg.DatabaseIdentifier(c.stack)
		if got != c.want {
			t.Errorf("cluster name %q, stack %q: DatabaseIdentifier = %q, want %q", c.clusterName, c.stack, got, c.want)
		}
		if len(got) > 63 || !rdsIdentifierForm.MatchString(got) {
			t.Errorf("cluster name %q, stack %q: %q (%d characters) is not an RDS identifier", c.clusterName, c.stack, got, len(got))
		}
	}
}
