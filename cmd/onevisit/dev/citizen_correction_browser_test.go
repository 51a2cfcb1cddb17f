package dev_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/deploy/testkit/browser"
	"github.com/onevisit/onevisit/exchange/wire"
)

// citizenCorrectionAccepted continues TestCitizenPageInBrowser once the
// signed-in child asked, in the page, for a correction of the household
// address: the page lists it as open (处理中) with the public security
// bureau as its department and the filing among the accesses; the bureau
// lists and accepts it with its ordinary access token over plain HTTP;
// the page, left open, then shows it accepted (已接受) with the bureau's
// answer, without a reload.
func citizenCorrectionAccepted(t *testing.T, ctx context.Context, env *dev.Env) {
	t.Helper()
	const row = `[...document.querySelectorAll("#corrections tbody tr")].map(r => r.textContent).join("\n")`
	until(t, ctx, "the correction listed as open", `(`+row+`).includes("处理中")`)
	if got := eval[string](t, ctx, row); !strings.Contains(got, "household") || !strings.Contains(got, "address") || !strings.Contains(got, "public-security") {
		t.Errorf("the correction row %q lacks the dataset, field or department", got)
	}
	until(t, ctx, "the filing among the accesses", `[...document.querySelectorAll("#accesses tbody tr")].some(r => r.textContent.includes("更正申请：已提交"))`)
	labelled(t, ctx, "citizen-correction-open")

	bureau := token(t, env, "public-security")
	var open []wire.Correction
	waitFor(t, "the resident's correction in the bureau's inbox", func() bool {
		resp, b := call(t, "GET", env.BaseURL+"/v1/corrections?status=open", "Bearer "+bureau, nil, nil)
		open = nil
		var l struct{ Corrections []wire.Correction }
		if resp.StatusCode == http.StatusOK && jsonInto(b, &l) {
			open = l.Corrections
		}
		return len(open) == 1
	})
	if c := open[0]; c.Dataset != "household" || c.Field != "address" || c.Reason != "我们已于2025年搬家" {
		t.Fatalf("the bureau's open correction %+v", c)
	}
	if resp, b := call(t, "POST", env.BaseURL+"/v1/corrections/"+open[0].ID, "Bearer "+bureau, []byte(`{"status":"accepted","reason":"已核实，将更新户籍地址"}`), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("the bureau accepts: %d %s", resp.StatusCode, b)
	}
	until(t, ctx, "the correction shown accepted", `(`+row+`).includes("已接受") && (`+row+`).includes("已核实，将更新户籍地址")`)
	browser.Screenshot(t, ctx, "citizen-correction-accepted")
}

// jsonInto decodes b into v and reports whether it could.
func jsonInto(b []byte, v any) bool { return json.Unmarshal(b, v) == nil }
