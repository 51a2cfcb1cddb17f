package dev

import (
	"fmt"

	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/exchange/citizen"
)

// DevSignInPath is where dev mode serves the development OpenID Connect
// provider of the citizen page (exchange/citizen.DevProvider): a sign-in
// page listing the sample residents, marked as for development only.
const DevSignInPath = "/dev/oidc"

// devSignIn gives p the development sign-in provider for the sample
// residents of connectors/samples/household.csv and makes the node accept
// its ID tokens. p.PublicURL must be final.
func devSignIn(p *exchange.Parts) (*citizen.DevProvider, error) {
	rows, err := samples.Rows(samples.HouseholdFile)
	if err != nil {
		return nil, fmt.Errorf("dev: sign-in residents: %w", err)
	}
	var rs []citizen.Resident
	for _, r := range rows {
		rs = append(rs, citizen.Resident{ID: r["resident_id"], Name: r["name"]})
	}
	prov, err := citizen.NewDevProvider(p.PublicURL+DevSignInPath, rs)
	if err != nil {
		return nil, fmt.Errorf("dev: sign-in provider: %w", err)
	}
	p.Citizen = prov.Config()
	p.DevSignIn = prov.Handler(DevSignInPath)
	return prov, nil
}

// CitizenToken signs a development ID token for a sample resident, as
// the sign-in page at /dev/oidc/ does.
func (e *Env) CitizenToken(residentID string) (string, error) {
	if e.signIn == nil {
		return "", fmt.Errorf("dev: no sign-in provider")
	}
	return e.signIn.IDToken(residentID)
}
