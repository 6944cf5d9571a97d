package control

import "github.com/deploytool/deploy/procmon/metrics"

// ApplySample puts a metrics sample into the status: Metrics (with the
// history's host readings), each worker's CPU and RSS by pid, and the
// sample's reasons into DegradedReasons. A degraded sample turns State
// "ready" into "degraded"; other states (starting, reloading, crash-loop, …)
// say more and are kept.
func (s *Status) ApplySample(latest metrics.Sample, history []metrics.Sample) {
	m := &Metrics{
		Time:             latest.Time,
		HostCPUPercent:   latest.HostCPUPercent,
		MemoryPercent:    latest.MemoryPercent,
		DiskPercent:      latest.DiskPercent,
		DiskPath:         latest.DiskPath,
		ThresholdPercent: latest.Threshold,
		Degraded:         latest.Degraded,
		Reasons:          latest.Reasons,
	}
	for _, h := range history {
		if h.Time.Equal(latest.Time) {
			continue
		}
		m.History = append(m.History, MetricsPoint{Time: h.Time, HostCPUPercent: h.HostCPUPercent,
			MemoryPercent: h.MemoryPercent, DiskPercent: h.DiskPercent})
	}
	s.Metrics = m
	byPID := map[int]metrics.ProcessSample{}
	for _, p := range latest.Processes {
		byPID[p.PID] = p
	}
	for i := range s.Workers {
		w := &s.Workers[i]
		if p, ok := byPID[w.PID]; ok && w.PID != 0 {
			w.RSSBytes, w.CPUPercent = p.RSSBytes, p.CPUPercent
		}
	}
	s.DegradedReasons = append(s.DegradedReasons, latest.Reasons...)
	if latest.Degraded && s.State == StateReady {
		s.State = StateDegraded
	}
}
