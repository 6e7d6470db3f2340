//go:build !unix

package loadgen

import "math"

// RaiseFileLimit does nothing on systems without RLIMIT_NOFILE and reports
// no limit.
func RaiseFileLimit() (uint64, error) { return math.MaxUint64, nil }

// processCPU is not measured on systems without getrusage.
func processCPU() int64 { return 0 }
