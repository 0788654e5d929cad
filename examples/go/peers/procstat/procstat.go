// Package procstat reads what the peers report about their own process, as our Rust
// examples do (examples/common).
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PeakRSSMiB reads VmHWM from /proc/self/status: MiB with one decimal, or "-".
func PeakRSSMiB() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "-"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) < 2 {
				return "-"
			}
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return "-"
			}
			return fmt.Sprintf("%.1f", kb/1024)
		}
	}
	return "-"
}
