package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/exchange"
	"github.com/onevisit/onevisit/schemas"
)

// runCitizenToken prints a development ID token for a sample resident:
// it asks the exchange's development sign-in provider (dev mode only,
// POST /dev/oidc/token) as the sign-in page does. The token goes to
// standard output only, never to the log. An exchange without that
// provider (anything but `onevisit dev`) is a refusal, exit 1.
func runCitizenToken(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "citizen-token")
	resident := fs.String("resident", "", "a sample resident's ID number (required; the residents of connectors/samples/household.csv)")
	base := fs.String("exchange", "http://"+exchange.DefaultHTTPAddr, "exchange base URL, running `onevisit dev`")
	o := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *resident == "" {
		return usagef("--resident is required")
	}
	if err := schemas.ValidResidentID(*resident); err != nil {
		return usagef("--resident: not a resident ID number: %v", err)
	}
	u := strings.TrimSuffix(*base, "/") + dev.DevSignInPath + "/token"
	req, err := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(url.Values{"resident": {*resident}}.Encode()))
	if err != nil {
		return usagef("--exchange: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", dev.DevSignInPath+"/token", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("POST %s: %w", dev.DevSignInPath+"/token", err)
	}
	var ans struct {
		IDToken   string `json:"id_token"`
		ExpiresIn int    `json:"expires_in"`
		Error     struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &ans)
	switch {
	case resp.StatusCode == http.StatusBadRequest && ans.Error.Code == "unknown_resident":
		return refusedf("--resident is not a sample resident of the development sign-in provider (connectors/samples/household.csv lists them)")
	case resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"):
		return refusedf("the exchange at %s has no development sign-in provider (%s answered %s): citizen-token works against `onevisit dev` only", *base, dev.DevSignInPath+"/token", resp.Status)
	case ans.IDToken == "":
		return fmt.Errorf("the development sign-in provider answered no id_token")
	}
	return o.print(e, struct {
		IDToken   string `json:"id_token"`
		ExpiresIn int    `json:"expires_in"`
	}{ans.IDToken, ans.ExpiresIn}, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, ans.IDToken)
		return err
	})
}
