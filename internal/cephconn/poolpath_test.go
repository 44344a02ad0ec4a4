package cephconn

import "testing"

func TestPoolPath(t *testing.T) {
	for _, c := range []struct{ pool, namespace, path, caps string }{
		{"rbd", "", "rbd", "profile rbd pool=rbd"},
		{"rbd", "tenant-a", "rbd/tenant-a", "profile rbd pool=rbd namespace=tenant-a"},
	} {
		if got := PoolPath(c.pool, c.namespace); got != c.path {
			t.Errorf("PoolPath(%q, %q) = %q, want %q", c.pool, c.namespace, got, c.path)
		}
		if pool, ns := SplitPoolPath(c.path); pool != c.pool || ns != c.namespace {
			t.Errorf("SplitPoolPath(%q) = %q, %q", c.path, pool, ns)
		}
		if got := capsFor(c.path); got != c.caps {
			t.Errorf("capsFor(%q) = %q, want %q", c.path, got, c.caps)
		}
	}
}
