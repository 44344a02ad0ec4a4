package engine_test

import (
	"os"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testcluster.ReportComparisons("engine tests: restore points, restored images and streams")
	os.Exit(code)
}
