package cephconn

import "strings"

// A pool path names where images live: "pool", or "pool/namespace" for a
// RADOS namespace of the pool, as the rbd CLI's image specs write it
// (pool/namespace/image). The engine passes pool paths wherever it names a
// pool, so namespaces reach every operation through IOContext alone, and
// records on the backup cluster name their source as rbd would.

// PoolPath joins a pool and a namespace ("" is the pool's default namespace).
func PoolPath(pool, namespace string) string {
	if namespace == "" {
		return pool
	}
	return pool + "/" + namespace
}

// SplitPoolPath is PoolPath's inverse.
func SplitPoolPath(path string) (pool, namespace string) {
	pool, namespace, _ = strings.Cut(path, "/")
	return pool, namespace
}

// capsFor is the OSD capability that lets a user use images in a pool path.
func capsFor(path string) string {
	pool, ns := SplitPoolPath(path)
	if ns == "" {
		return "profile rbd pool=" + pool
	}
	return "profile rbd pool=" + pool + " namespace=" + ns
}
