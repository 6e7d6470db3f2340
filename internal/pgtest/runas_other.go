//go:build !unix

package pgtest

import "os/exec"

// runAs does nothing where there are no Unix users: Geteuid is -1 there,
// so Start never asks for another user.
func runAs(*exec.Cmd, *account) {}
