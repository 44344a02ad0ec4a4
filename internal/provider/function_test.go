package provider

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
)

// The functions run in the real terraform (or OpenTofu) given by
// TF_ACC_TERRAFORM_PATH or found on PATH; they need no cluster.

// unusedProvider lets OpenTofu call the functions: it configures a provider
// before calling them (Terraform does not). Nothing connects to it.
const unusedProvider = `
provider "cephbackup" {
  cluster = { mon_host = "192.0.2.1", user = "functions" }
}
`

func functionTest(t *testing.T, steps ...resource.TestStep) {
	t.Helper()
	for i := range steps {
		steps[i].Config = unusedProvider + steps[i].Config
	}
	resource.UnitTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_8_0)},
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps:                    steps,
	})
}

func stringList(values ...string) knownvalue.Check {
	checks := make([]knownvalue.Check, len(values))
	for i, v := range values {
		checks[i] = knownvalue.StringExact(v)
	}
	return knownvalue.ListExact(checks)
}

func TestFunction_periods(t *testing.T) {
	functionTest(t, resource.TestStep{
		Config: `
output "weekly" {
  value = provider::cephbackup::periods("2026-11-28T06:00:00Z", "weekly", 4)
}
output "week_53" {
  value = provider::cephbackup::periods("2027-01-01T12:00:00Z", "weekly", 2)
}
output "daily" {
  value = provider::cephbackup::periods("2028-03-01T00:30:00+01:00", "daily", 3)
}
output "monthly" {
  value = provider::cephbackup::periods("2027-01-31T06:00:00Z", "monthly", 3)
}
`,
		ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectKnownOutputValue("weekly", stringList("2026-w48", "2026-w47", "2026-w46", "2026-w45")),
			statecheck.ExpectKnownOutputValue("week_53", stringList("2026-w53", "2026-w52")),
			statecheck.ExpectKnownOutputValue("daily", stringList("2028-03-01", "2028-02-29", "2028-02-28")),
			statecheck.ExpectKnownOutputValue("monthly", stringList("2027-01", "2026-12", "2026-11")),
		},
	})
}

func TestFunction_periodDays(t *testing.T) {
	functionTest(t, resource.TestStep{
		Config: `
output "week" {
  value = provider::cephbackup::period_days("2026-11-25T18:00:00Z", "weekly")
}
output "new_year" {
  value = provider::cephbackup::period_days("2027-01-01T08:00:00Z", "weekly")
}
`,
		ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectKnownOutputValue("week", stringList("2026-11-23", "2026-11-24", "2026-11-25")),
			statecheck.ExpectKnownOutputValue("new_year", stringList("2026-12-28", "2026-12-29", "2026-12-30", "2026-12-31", "2027-01-01")),
		},
	})
}

func TestFunction_retain(t *testing.T) {
	functionTest(t, resource.TestStep{
		Config: `
output "tiers" {
  value = provider::cephbackup::retain("2026-11-28T12:00:00Z", "latest1,weeks2,months3", [
    "2026-08-31", "2026-09-01", "2026-09-15", "2026-10-05", "2026-11-16", "2026-11-18", "2026-11-23", "2026-11-27",
  ])
}
output "timestamps" {
  value = provider::cephbackup::retain("2026-11-28T12:00:00Z", "hours2,days2", [
    "2026-11-26T10:00:00Z", "2026-11-27T09:00:00Z", "2026-11-27T21:00:00Z", "2026-11-28T10:30:00Z", "2026-11-28T11:15:00Z", "2026-11-28T11:45:00Z",
  ])
}
output "empty" {
  value = provider::cephbackup::retain("2026-11-28T12:00:00Z", "latest3", [])
}
`,
		ConfigStateChecks: []statecheck.StateCheck{
			statecheck.ExpectKnownOutputValue("tiers", stringList("2026-11-27", "2026-11-23", "2026-11-16", "2026-10-05", "2026-09-01")),
			statecheck.ExpectKnownOutputValue("timestamps", stringList("2026-11-28T11:15:00Z", "2026-11-28T10:30:00Z", "2026-11-27T09:00:00Z")),
			statecheck.ExpectKnownOutputValue("empty", knownvalue.ListExact([]knownvalue.Check{})),
		},
	})
}

// Each bad argument fails the plan with an error that names it.
func TestFunction_badArguments(t *testing.T) {
	cases := []struct{ call, want string }{
		{`periods("yesterday", "weekly", 4)`, `"now" parameter: now is "yesterday", which is not an RFC 3339 timestamp`},
		{`periods("2026-11-28T06:00:00Z", "fortnightly", 4)`, `"schedule" parameter: unknown schedule "fortnightly"`},
		{`periods("2026-11-28T06:00:00Z", "weekly", 0)`, `"count" parameter: count is 0`},
		{`period_days("2026-11-28T06:00:00Z", "hourly")`, `"schedule" parameter: unknown schedule "hourly"`},
		{`retain("2026-11-28T06:00:00Z", "latest3,dayz7", [])`, `"rule" parameter: rule term "dayz7"`},
		{`retain("2026-11-28T06:00:00Z", "latest3", ["2026-w54"])`, `"items" parameter: "2026-w54": year 2026 has no ISO week 54`},
		{`retain("2026-11-28T06:00:00Z", "latest3", ["2026-12-01"])`, `"items" parameter: "2026-12-01" is after now`},
	}
	for _, c := range cases {
		t.Run(c.call, func(t *testing.T) {
			functionTest(t, resource.TestStep{
				Config: "output \"x\" {\n  value = provider::cephbackup::" + c.call + "\n}\n",
				// terraform wraps the message: any space may be a line break.
				ExpectError: regexp.MustCompile(`Invalid value for ` + strings.ReplaceAll(c.want, " ", `\s+`)),
			})
		})
	}
}
