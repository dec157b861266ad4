//go:build unix

package transport

import "syscall"

// oNoFollow makes opening a symbolic link fail: a download's files are
// never written through a link someone planted beside them.
const oNoFollow = syscall.O_NOFOLLOW
