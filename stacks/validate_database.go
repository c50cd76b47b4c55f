package stacks

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The control plane's database: the choice, and the RDS instance's settings.

var (
	// RDS pins PostgreSQL as major.minor (16.10, 17.6): "17" alone would take whatever minor
	// RDS makes the default when the instance is created.
	rdsEngineVersion = regexp.MustCompile(`^([0-9]+)\.([0-9]+)$`)
	// A DB instance class is db.<family><generation><attributes>.<size> (RDS User Guide, "DB
	// instance classes"): db.t4g.medium, db.m7g.large, db.r6gd.2xlarge. db.serverless is
	// Aurora's alone.
	rdsInstanceClass = regexp.MustCompile(`^db\.[a-z]+[0-9]+[a-z-]*\.(micro|small|medium|large|xlarge|[0-9]+xlarge|metal(-[0-9]+xl)?)$`)
	backupWindow     = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$`)
	// RDS takes the days in any case (its API reference writes them Mon, Tue, ...).
	maintenanceWin = regexp.MustCompile(`^(?i:(mon|tue|wed|thu|fri|sat|sun)):([01][0-9]|2[0-3]):([0-5][0-9])-(?i:(mon|tue|wed|thu|fri|sat|sun)):([01][0-9]|2[0-3]):([0-5][0-9])$`)
)

// KongPostgresMajors are the PostgreSQL major versions the control plane may run on RDS: those
// Kong 3.x supports and tests against that RDS still offers with standard support (see
// README, "The control plane's database").
var KongPostgresMajors = []int{14, 15, 16, 17}

// The limits RDS for PostgreSQL sets (RDS User Guide: "Amazon RDS DB instance storage" for
// gp3, 20 GiB to 64 TiB; "Backup retention period", 0 to 35 days; "Managing capacity
// automatically with storage autoscaling", a maximum at least 10 % above the allocated
// storage; "Backup window" and "Maintenance window", at least 30 minutes each, not
// overlapping).
const (
	rdsMinStorage      = 20
	rdsMaxStorage      = 65536
	rdsMaxRetention    = 35
	rdsMinWindowMinute = 30
)

func (c Config) validateDatabase(p *Problems) {
	d := c.Database
	switch d.Kind {
	case "", DatabaseBundled, DatabaseRDS, DatabaseExternal:
	default:
		p.add(key("database"), "expected %q (the chart's PostgreSQL pod), %q (an RDS instance the program makes) or %q (a database made elsewhere, named by postgresHost), got %q",
			DatabaseBundled, DatabaseRDS, DatabaseExternal, d.Kind)
		return
	}
	switch kind := c.EffectiveDatabase(); {
	case kind == DatabaseExternal && c.Kong.PostgresHost == "":
		p.add(key("postgresHost"), "required with database %s: the host of the database Kong connects to", DatabaseExternal)
	case kind != DatabaseExternal && c.Kong.PostgresHost != "":
		p.add(key("postgresHost"), "only used with database %s, but database is %s: remove it, or set database to %s", DatabaseExternal, kind, DatabaseExternal)
	}
	if c.EffectiveDatabase() != DatabaseRDS {
		return // the RDS keys left at their defaults: validateRelations
	}

	if m := rdsEngineVersion.FindStringSubmatch(d.EngineVersion); m == nil {
		checkPinned(p, key("databaseEngineVersion"), d.EngineVersion, rdsEngineVersion, "an RDS for PostgreSQL engine version as major.minor, such as 17.6")
	} else if major, _ := strconv.Atoi(m[1]); !containsInt(KongPostgresMajors, major) {
		p.add(key("databaseEngineVersion"), "PostgreSQL %d is not one the control plane runs on: expected major version %s (Kong 3.x supports them and RDS offers them with standard support)",
			major, joinInts(KongPostgresMajors, ", "))
	}
	if !rdsInstanceClass.MatchString(d.InstanceClass) {
		hint := ""
		if rdsInstanceClass.MatchString("db." + d.InstanceClass) {
			hint = fmt.Sprintf(" (did you mean db.%s? RDS names its classes with the db. prefix)", d.InstanceClass)
		}
		p.add(key("databaseInstanceClass"), "expected an RDS DB instance class such as db.m7g.large (db.<family>.<size>), got %q%s", d.InstanceClass, hint)
	}
	if d.AllocatedStorage < rdsMinStorage || d.AllocatedStorage > rdsMaxStorage {
		p.add(key("databaseAllocatedStorage"), "expected GiB of gp3 storage from %d to %d, got %d", rdsMinStorage, rdsMaxStorage, d.AllocatedStorage)
	}
	if m := d.MaxAllocatedStorage; m != 0 {
		least := (d.AllocatedStorage*11 + 9) / 10
		if least > rdsMaxStorage {
			p.add(key("databaseMaxAllocatedStorage"), "expected 0: %d GiB allocated leaves no room for storage autoscaling below RDS's %d GiB", d.AllocatedStorage, rdsMaxStorage)
		} else if m < least || m > rdsMaxStorage {
			p.add(key("databaseMaxAllocatedStorage"), "expected 0 (no storage autoscaling) or a ceiling from %d GiB (10 %% above databaseAllocatedStorage) to %d GiB, got %d", least, rdsMaxStorage, m)
		}
	}
	switch r := d.BackupRetentionDays; {
	case r < 0 || r > rdsMaxRetention:
		p.add(key("databaseBackupRetentionDays"), "expected days of automated backups from 0 to %d, got %d", rdsMaxRetention, r)
	case r == 0 && d.DeletionProtection:
		p.add(key("databaseBackupRetentionDays"), "0 turns automated backups (and point-in-time restore) off, on a database whose deletion protection says it is production: keep at least 1 day (the default is 7)")
	}
	backup, backupOK := parseBackupWindow(d.BackupWindow)
	if !backupOK {
		p.add(key("databaseBackupWindow"), "expected a daily window in UTC as hh24:mi-hh24:mi of at least %d minutes, such as 03:00-03:30, got %q", rdsMinWindowMinute, d.BackupWindow)
	}
	maint, maintOK := parseMaintenanceWindow(d.MaintenanceWindow)
	if !maintOK {
		p.add(key("databaseMaintenanceWindow"), "expected a weekly window in UTC as ddd:hh24:mi-ddd:hh24:mi of at least %d minutes, such as sun:04:00-sun:04:30, got %q", rdsMinWindowMinute, d.MaintenanceWindow)
	}
	if backupOK && maintOK && windowsOverlap(backup, maint) {
		p.add(key("databaseMaintenanceWindow"), "%s overlaps the daily backup window %s: RDS refuses overlapping windows", d.MaintenanceWindow, d.BackupWindow)
	}
	if b := d.CABundle; b != "" && !strings.HasPrefix(b, "https://") && (strings.Contains(b, "://") || !strings.HasSuffix(b, ".pem")) {
		p.add(key("databaseCaBundle"), "expected an https:// URL or the path of a local .pem file (empty: the region's bundle from AWS's trust store), got %q", b)
	}
}

// window is a span of minutes from Monday 00:00 UTC; a daily window is repeated every day.
type window struct {
	start, length int
	daily         bool
}

const minutesPerDay, minutesPerWeek = 24 * 60, 7 * 24 * 60

func parseBackupWindow(s string) (window, bool) {
	m := backupWindow.FindStringSubmatch(s)
	if m == nil {
		return window{}, false
	}
	start, end := clock(m[1], m[2]), clock(m[3], m[4])
	length := (end - start + minutesPerDay) % minutesPerDay
	return window{start: start, length: length, daily: true}, length >= rdsMinWindowMinute
}

func parseMaintenanceWindow(s string) (window, bool) {
	m := maintenanceWin.FindStringSubmatch(s)
	if m == nil {
		return window{}, false
	}
	start, end := weekday(m[1])*minutesPerDay+clock(m[2], m[3]), weekday(m[4])*minutesPerDay+clock(m[5], m[6])
	length := (end - start + minutesPerWeek) % minutesPerWeek
	return window{start: start, length: length}, length >= rdsMinWindowMinute
}

func clock(h, m string) int {
	hours, _ := strconv.Atoi(h) // the pattern matched digits
	minutes, _ := strconv.Atoi(m)
	return hours*60 + minutes
}

func weekday(d string) int {
	return strings.Index("montuewedthufrisatsun", strings.ToLower(d)) / 3
}

// windowsOverlap reports whether the weekly maintenance window meets the daily backup window
// on any day, either of them running past midnight (or past Sunday midnight, into Monday).
func windowsOverlap(daily, weekly window) bool {
	for day := -1; day <= 7; day++ {
		s := day*minutesPerDay + daily.start
		for _, shift := range []int{-minutesPerWeek, 0, minutesPerWeek} {
			ws := weekly.start + shift
			if s < ws+weekly.length && ws < s+daily.length {
				return true
			}
		}
	}
	return false
}

func containsInt(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

func joinInts(list []int, sep string) string {
	parts := make([]string, len(list))
	for i, n := range list {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, sep)
}
