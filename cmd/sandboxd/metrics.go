package main

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the daemon's Prometheus metrics, in a registry of its own.
// Callable labels only take names from the config: a call to an unknown
// name is counted under callable="".
type metrics struct {
	reg       *prometheus.Registry
	calls     *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	limits    *prometheus.CounterVec
	seccomp   *prometheus.CounterVec
	reloads   *prometheus.CounterVec
	inflight  prometheus.Gauge
	pools     func() map[string]poolStats // current pools' stats
	mu        sync.Mutex
	retired   map[string]poolStats // counters of pools retired by reloads
	workers   *prometheus.Desc
	queue     *prometheus.Desc
	starts    *prometheus.Desc
	restarts  *prometheus.Desc
	recycled  *prometheus.Desc
	poolCalls *prometheus.Desc
}

func newMetrics(pools func() map[string]poolStats) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sandboxd_calls_total", Help: "Calls answered, by callable and outcome (ok or an error kind).",
		}, []string{"callable", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sandboxd_call_duration_seconds", Help: "Time from a call's request to its answer, by callable.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"callable"}),
		limits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sandboxd_limit_violations_total", Help: "Calls ended by a limit of the profile, by callable and limit.",
		}, []string{"callable", "limit"}),
		seccomp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sandboxd_seccomp_violations_total", Help: "Calls whose worker the seccomp filter killed, by callable and system call (\"\" when unknown).",
		}, []string{"callable", "syscall"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sandboxd_config_reloads_total", Help: "Config reloads (SIGHUP), by result (ok or error).",
		}, []string{"result"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sandboxd_calls_in_flight", Help: "Calls in progress.",
		}),
		pools:     pools,
		retired:   map[string]poolStats{},
		workers:   prometheus.NewDesc("sandboxd_workers", "Workers by callable and state (idle, busy, starting).", []string{"callable", "state"}, nil),
		queue:     prometheus.NewDesc("sandboxd_queue_length", "Calls waiting for a worker, by callable.", []string{"callable"}, nil),
		starts:    prometheus.NewDesc("sandboxd_worker_starts_total", "Workers started, by callable.", []string{"callable"}, nil),
		restarts:  prometheus.NewDesc("sandboxd_worker_restarts_total", "Workers restarted after dying, by callable.", []string{"callable"}, nil),
		recycled:  prometheus.NewDesc("sandboxd_workers_recycled_total", "Workers replaced by policy (fresh per task, recycle after), by callable.", []string{"callable"}, nil),
		poolCalls: prometheus.NewDesc("sandboxd_pool_failures_total", "Calls the pools reported as failed, by callable.", []string{"callable"}, nil),
	}
	m.reg.MustRegister(m.calls, m.latency, m.limits, m.seccomp, m.reloads, m.inflight, m,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Describe implements prometheus.Collector for the pool metrics.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.workers, m.queue, m.starts, m.restarts, m.recycled, m.poolCalls} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the current pools' stats plus
// the counters of pools that reloads retired.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	cur := m.pools()
	m.mu.Lock()
	totals := map[string]poolStats{}
	for name, s := range m.retired {
		totals[name] = s
	}
	m.mu.Unlock()
	for name, s := range cur {
		t := totals[name]
		t.add(s)
		totals[name] = t
		ch <- prometheus.MustNewConstMetric(m.workers, prometheus.GaugeValue, float64(s.Idle), name, "idle")
		ch <- prometheus.MustNewConstMetric(m.workers, prometheus.GaugeValue, float64(s.Busy), name, "busy")
		ch <- prometheus.MustNewConstMetric(m.workers, prometheus.GaugeValue, float64(s.Starting), name, "starting")
		ch <- prometheus.MustNewConstMetric(m.queue, prometheus.GaugeValue, float64(s.Queue), name)
	}
	for name, t := range totals {
		ch <- prometheus.MustNewConstMetric(m.starts, prometheus.CounterValue, float64(t.Started), name)
		ch <- prometheus.MustNewConstMetric(m.restarts, prometheus.CounterValue, float64(t.Restarts), name)
		ch <- prometheus.MustNewConstMetric(m.recycled, prometheus.CounterValue, float64(t.Recycled), name)
		ch <- prometheus.MustNewConstMetric(m.poolCalls, prometheus.CounterValue, float64(t.Failures), name)
	}
}

// retire keeps the counters of a pool that a reload replaced.
func (m *metrics) retire(name string, s poolStats) {
	m.mu.Lock()
	t := m.retired[name]
	t.add(s)
	m.retired[name] = t
	m.mu.Unlock()
}

// observe records one answered call.
func (m *metrics) observe(callable string, e *apiError, d time.Duration) {
	outcome := "ok"
	if e != nil {
		outcome = e.Kind
		switch e.Kind {
		case kindLimit:
			m.limits.WithLabelValues(callable, e.Limit).Inc()
		case kindSeccomp:
			m.seccomp.WithLabelValues(callable, e.Syscall).Inc()
		}
	}
	m.calls.WithLabelValues(callable, outcome).Inc()
	if callable != "" {
		m.latency.WithLabelValues(callable).Observe(d.Seconds())
	}
}

// handler serves the metrics.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
