package query

import (
	"errors"
	"strings"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/policy"
)

// ErrConsentRequired: the policy releases the fields asked for only with
// the citizen's consent for the purpose (conditions {consent: required}),
// and no consent for this consumer and purpose is in force. The consumer
// must not retry until the citizen consents through the consent service.
var ErrConsentRequired = wire.WithCode("consent_required", errors.New("consent required"))

// Consent records: the consent service publishes them like any dataset.
const (
	// ConsentDataset is the dataset of consent records (schema
	// consent/v1); the latest record of a citizen is their consent state.
	ConsentDataset = "consent"
	// ConsentField lists the consents in force, separated by single
	// spaces, each consumer:purpose or consumer:purpose:until (the last
	// day it is in force, YYYY-MM-DD, China time).
	ConsentField = "consents"
)

// consentZone is China Standard Time, the zone a consent's last day is
// counted in (as the resident-id birth date check counts "today").
var consentZone = time.FixedZone("CST", 8*3600)

// consentState is what a query found about the citizen's consent.
type consentState struct {
	recordID string // the consent record read, "" if none counts
	inForce  bool
}

// consent looks up the subject's consent record and reports whether it
// holds a consent of consumer for purpose in force at now. The record
// counts only if it is in the view (so it was verified at ingest, and
// checked again when read back under the node MAC: issuer's key, grant),
// its issuer may
// publish the consent dataset under pol now, and its signing key was not
// revoked as of its acceptance. Entries that do not parse are ignored:
// they consent to nothing.
func (s *Service) consent(pol *policy.Set, pseudonym, consumer, purpose string, now time.Time) consentState {
	e, ok := s.d.View.Get(ConsentDataset, pseudonym)
	if !ok || !pol.MayPublish(e.Issuer, ConsentDataset).Allowed {
		return consentState{}
	}
	if k, err := keys.AcceptedBefore(s.d.Keys, time.UnixMilli(e.AcceptedAt)).PublicKey(e.KID); err == nil && k.Status == keys.Revoked {
		return consentState{}
	}
	return consentState{recordID: e.ID, inForce: holdsConsent(e, consumer, purpose, now)}
}

// holdsConsent reports whether the consent record e lists consumer and
// purpose with no last day, or a last day not before now's day in China
// time.
func holdsConsent(e *view.Entry, consumer, purpose string, now time.Time) bool {
	rec, err := record.Parse(e.Project([]string{ConsentField}))
	if err != nil {
		return false
	}
	list, _ := rec.Fields()[ConsentField].(string)
	today := now.In(consentZone).Format(time.DateOnly)
	for _, c := range strings.Split(list, " ") {
		parts := strings.Split(c, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] != consumer || parts[1] != purpose {
			continue
		}
		if len(parts) == 2 {
			return true
		}
		// Dates in YYYY-MM-DD compare as strings once they parse.
		if _, err := time.Parse(time.DateOnly, parts[2]); err == nil && parts[2] >= today {
			return true
		}
	}
	return false
}

// withoutFields returns fields without those in drop, as a new slice.
func withoutFields(fields, drop []string) []string {
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		keep := true
		for _, d := range drop {
			if f == d {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, f)
		}
	}
	return out
}
