package policy

import (
	"math"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Bounds of the numbers a limits block may hold.
const (
	maxLimitRate  = 1_000_000
	maxLimitBurst = 1_000_000
	maxLimitDaily = 1_000_000_000
)

var rateRE = regexp.MustCompile(`^([1-9][0-9]{0,6})/(s|m|h)$`)

// Limits bound how often a consumer may query for a purpose: a token
// bucket of PerSecond tokens a second holding at most Burst, and at most
// Daily queries per UTC day. A zero PerSecond means no rate limit, a zero
// Daily no quota. Every query counts, refused ones included, and so does
// every explain call of the consumer.
type Limits struct {
	Rate      string  `json:"rate,omitempty"` // as written: "<n>/s", "<n>/m" or "<n>/h"
	PerSecond float64 `json:"-"`
	Burst     int     `json:"burst,omitempty"`
	Daily     int64   `json:"daily,omitempty"`
}

// IsZero reports whether l limits nothing.
func (l Limits) IsZero() bool { return l.PerSecond == 0 && l.Daily == 0 }

// stricter combines two limits, keeping the stricter of each number
// (zero is "unlimited", never the stricter).
func stricter(a, b Limits) Limits {
	if a.IsZero() {
		return b
	}
	if b.IsZero() {
		return a
	}
	out := a
	if b.PerSecond != 0 && (out.PerSecond == 0 || b.PerSecond < out.PerSecond) {
		out.PerSecond, out.Rate = b.PerSecond, b.Rate
	}
	if b.Burst != 0 && (out.Burst == 0 || b.Burst < out.Burst) {
		out.Burst = b.Burst
	}
	if b.Daily != 0 && (out.Daily == 0 || b.Daily < out.Daily) {
		out.Daily = b.Daily
	}
	return out
}

// limitsSpec parses an AccessPolicy's optional limits block:
//
//	limits: {rate: 50/s, burst: 100, daily: 100000}
//
// rate is "<n>/s", "<n>/m" or "<n>/h" (n from 1 to 1,000,000); burst (1
// to 1,000,000) defaults to the rate per second rounded up, at least 1;
// daily is 1 to 1,000,000,000. At least one of rate and daily is required.
func (p *parser) limitsSpec(sp mapping, pol *Policy) {
	n := p.value(sp, "limits", false)
	if n == nil {
		return
	}
	lm, ok := p.mapping(sp.m["limits"].key, n, "AccessPolicy spec.limits", "rate", "burst", "daily")
	if !ok {
		return
	}
	var l Limits
	before := len(p.errs)
	if rn := p.value(lm, "rate", false); rn != nil {
		m := rateRE.FindStringSubmatch(rn.Value)
		if rn.Kind != yaml.ScalarNode || m == nil {
			p.errf(rn, ErrBadValue, "spec.limits.rate %q must be <n>/s, <n>/m or <n>/h with n from 1 to %d", rn.Value, maxLimitRate)
		} else if v, _ := strconv.Atoi(m[1]); v > maxLimitRate {
			p.errf(rn, ErrBadValue, "spec.limits.rate %q: n must be at most %d", rn.Value, maxLimitRate)
		} else {
			l.Rate = rn.Value
			l.PerSecond = float64(v) / map[string]float64{"s": 1, "m": 60, "h": 3600}[m[2]]
		}
	}
	l.Burst = int(p.count(lm, "burst", maxLimitBurst))
	l.Daily = p.count(lm, "daily", maxLimitDaily)
	switch {
	case l.Rate == "" && l.Daily == 0:
		if len(p.errs) == before { // not already reported as a bad value
			p.errf(n, ErrMissing, "spec.limits needs rate, daily or both")
		}
		return
	case l.Rate == "" && l.Burst != 0:
		p.errf(lm.m["burst"].key, ErrBadValue, "spec.limits.burst needs a rate")
		return
	case l.Rate != "" && l.Burst == 0:
		l.Burst = max(1, int(math.Ceil(l.PerSecond)))
	}
	pol.Limits = l
}

// count returns an optional integer from 1 to most, or 0 when absent or bad.
func (p *parser) count(mp mapping, key string, most int64) int64 {
	n := p.value(mp, key, false)
	if n == nil {
		return 0
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil || v < 1 || v > most {
		p.errf(n, ErrBadValue, "spec.limits.%s must be a whole number from 1 to %d", key, most)
		return 0
	}
	return v
}

// limitKey is the bucket a consumer's query counts against.
type limitKey struct{ consumer, purpose string }

// compileLimits indexes the limits of the access policies by consumer and
// purpose, the stricter of each number where several policies limit the
// same pair; purpose "" holds the strictest limits of the consumer's
// policies, for purposes no limited policy lists.
func compileLimits(docs []Policy) map[limitKey]Limits {
	out := map[limitKey]Limits{}
	for _, d := range docs {
		if d.Kind != KindAccessPolicy || d.Limits.IsZero() {
			continue
		}
		for _, pu := range d.Purposes {
			k := limitKey{d.Consumer, pu}
			out[k] = stricter(out[k], d.Limits)
		}
		k := limitKey{d.Consumer, ""}
		out[k] = stricter(out[k], d.Limits)
	}
	return out
}

// Limits returns the limits a consumer's query for purpose counts against,
// and the bucket that holds its count: purpose itself when a limited
// access policy of the consumer lists it, otherwise "" (one bucket per
// consumer for every other purpose, refused ones included, with the
// strictest limits the consumer has). ok is false when no access policy of
// the consumer declares limits: its queries are not limited.
//
// Limits count per consumer and purpose across datasets: the limits of a
// policy for household and purpose school_enrolment also bound the same
// consumer's property queries for school_enrolment.
func (s *Set) Limits(consumer, purpose string) (l Limits, bucket string, ok bool) {
	if s == nil {
		return Limits{}, "", false
	}
	if l, ok := s.limits[limitKey{consumer, purpose}]; ok && purpose != "" {
		return l, purpose, true
	}
	l, ok = s.limits[limitKey{consumer, ""}]
	return l, "", ok
}
