module latency

go 1.19
