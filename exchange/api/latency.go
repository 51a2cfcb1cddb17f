package api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// newLatency is onevisit_api_request_seconds: the time from a request's
// arrival at its route to its answer, by method and route pattern (never a
// path with an id in it; "unmatched" for paths no route serves), for every
// route, refusals included. Buckets from 0.5 ms to about 16 s cover a
// cached GET to a publish of a full batch waiting on acks=all.
func newLatency() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "onevisit_api_request_seconds",
		Help:    "HTTP request latency by method and route pattern, refusals included.",
		Buckets: prometheus.ExponentialBuckets(500e-6, 2, 16),
	}, []string{"method", "route"})
}

// observe records one request. A method outside RFC 9110's is counted as
// "other": the method of an unmatched request is the caller's choice, and
// a label must not grow with it.
func (s *Server) observe(method, route string, start time.Time) {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT":
	default:
		method = "other"
	}
	s.latency.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
}
