package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Mode is how a PublisherGrant's publisher shares its datasets.
type Mode string

// The modes of a PublisherGrant.
const (
	// ModeReplicated (the default, written as no mode at all): the
	// publisher publishes signed records; the exchange keeps the latest
	// per subject and answers queries from it.
	ModeReplicated Mode = "replicated"
	// ModeLive: the data stays at the department. The exchange forwards
	// each allowed query to the publisher's responder and answers with
	// the record the responder signs at that moment; it holds nothing.
	ModeLive Mode = "live"
)

func (s *Set) addLive(d Policy) {
	for _, ds := range d.Datasets {
		k := pair{d.Publisher, ds}
		dec, ok := s.live[k]
		if !ok {
			dec = Decision{Allowed: true, Fields: []string{}}
		}
		dec.Policy = strings.Trim(dec.Policy+","+d.Name, ",")
		dec.Reasons = append(dec.Reasons, fmt.Sprintf("permit: live grant %s lets %s answer %s", d.Name, d.Publisher, ds))
		s.live[k] = dec
	}
}

// Live reports whether dataset is served live: some PublisherGrant with
// mode live names it. Queries of a live dataset go to the publisher's
// responder and never to the replicated view, even if another grant
// also lets someone publish it.
func (s *Set) Live(dataset string) bool {
	if s == nil {
		return false
	}
	for k := range s.live {
		if k.dataset == dataset {
			return true
		}
	}
	return false
}

// MayAnswer decides whether publisher may answer live queries of
// dataset: a PublisherGrant with mode live names both. Default deny. A
// live grant does not let its publisher publish records for the
// replicated view (MayPublish), nor the other way round.
func (s *Set) MayAnswer(publisher, dataset string) Decision {
	if s == nil {
		return deny(nil, "", "deny: no policy set is loaded")
	}
	d, ok := s.live[pair{publisher, dataset}]
	if !ok {
		return deny(nil, "", "deny: no live grant lets "+publisher+" answer "+dataset)
	}
	d.Reasons = slices.Clone(d.Reasons)
	return d
}
