//go:build !unix

package transport

// oNoFollow is zero where the system has no O_NOFOLLOW.
const oNoFollow = 0
