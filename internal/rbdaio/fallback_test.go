package rbdaio

import (
	"errors"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/ceph/go-ceph/rbd"
)

// Without a cluster: the pinned go-ceph has the handle where Of looks (a
// closed image is refused as closed, not as unsupported), and a go-ceph that
// moved it is refused with ErrUnsupported, naming its version.
func TestOfNamesTheGoCephVersionWhenTheHandleMoved(t *testing.T) {
	closed := &rbd.Image{}
	if _, err := Of(closed); err == nil || errors.Is(err, ErrUnsupported) {
		t.Fatalf("Of(a closed image) = %v, want the refusal of a closed image", err)
	}
	undo := LookUpHandleIn("movedAway")
	defer undo()
	_, err := Of(closed)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "go-ceph "+GoCephVersion()) {
		t.Fatalf("Of with the handle moved = %v, want ErrUnsupported naming go-ceph %s", err, GoCephVersion())
	}
}

// The provider binary records go-ceph among its dependencies (`go version -m`
// shows it); that is the version the fallback's warning names.
func TestGoCephVersionIn(t *testing.T) {
	bi := &debug.BuildInfo{Deps: []*debug.Module{
		{Path: "github.com/google/uuid", Version: "v1.6.0"},
		{Path: "github.com/ceph/go-ceph", Version: "v0.41.0"},
	}}
	if got := goCephVersionIn(bi); got != "v0.41.0" {
		t.Errorf("goCephVersionIn = %q, want v0.41.0", got)
	}
	bi.Deps[1].Replace = &debug.Module{Path: "example.org/go-ceph", Version: "v0.41.1"}
	if got := goCephVersionIn(bi); !strings.Contains(got, "v0.41.0") || !strings.Contains(got, "example.org/go-ceph v0.41.1") {
		t.Errorf("goCephVersionIn with a replacement = %q, want both versions", got)
	}
	if got := goCephVersionIn(nil); got == "" {
		t.Error("goCephVersionIn(nil) is empty")
	}
}
