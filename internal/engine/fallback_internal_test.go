package engine

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbdaio"
)

type countingWarnings struct {
	discardLogger
	fields []map[string]any
}

func (c *countingWarnings) Warn(_ context.Context, _ string, fields map[string]any) {
	c.fields = append(c.fields, fields)
}

// The fallback to synchronous I/O is warned about once per process, however
// many engines and copies take it, naming the go-ceph version.
func TestNoAsyncIOIsWarnedOncePerProcess(t *testing.T) {
	saved := noAsyncIOWarning
	noAsyncIOWarning = new(sync.Once)
	defer func() { noAsyncIOWarning = saved }()
	logged := &countingWarnings{}
	why := errors.New("rbdaio: cannot find the librbd handle")
	for range 2 {
		e := &Engine{Log: logged}
		e.warnNoAsyncIO(context.Background(), why)
		e.warnNoAsyncIO(context.Background(), why)
	}
	if len(logged.fields) != 1 {
		t.Fatalf("%d warnings, want 1", len(logged.fields))
	}
	if got := logged.fields[0]["go_ceph_version"]; got != rbdaio.GoCephVersion() {
		t.Errorf("the warning names go-ceph %v, want %s", got, rbdaio.GoCephVersion())
	}
}
