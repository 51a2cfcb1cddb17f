package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/onevisit/onevisit/connectors"
)

// subjectFlags collects repeated --subject role=id flags.
type subjectFlags map[string]string

func (s subjectFlags) String() string { return "" }

func (s subjectFlags) Set(v string) error {
	role, id, ok := strings.Cut(v, "=")
	if !ok || role == "" || id == "" {
		return fmt.Errorf("want role=id, like child=330106202003080153")
	}
	if _, dup := s[role]; dup {
		return fmt.Errorf("role %s given twice", role)
	}
	s[role] = id
	return nil
}

// runCase asks for a procedure's case bundle and verifies it whole.
func runCase(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "case")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: onevisit case --credentials C --procedure P --case-id X --subject role=id [--subject role=id ...]

Asks the exchange for every evidence item of procedure P (POST /v1/cases) in
one call, verifies the whole bundle with the requester SDK (each record
against its department's key, each field against the signed digests, each
receipt, each record bound to the subject sent for its role) and prints it
as JSON: the verified items, the missing ones with the departments that hold
them, and whether the case is complete. GET /v1/procedures lists the
procedures, their roles and case-id formats. A company's subject is its
unified social credit code; every other role's a resident ID. Exits 1 if the
bundle does not verify or the case is refused.

`)
		fs.PrintDefaults()
	}
	cred := fs.String("credentials", "", "the procedure service's credentials file (required)")
	url := fs.String("exchange", "", "exchange base URL (default: from the credentials file)")
	var q connectors.CaseQuery
	fs.StringVar(&q.Procedure, "procedure", "", "procedure, e.g. newborn_registration (required)")
	fs.StringVar(&q.CaseID, "case-id", "", "case id in the procedure's format (required)")
	subjects := subjectFlags{}
	fs.Var(subjects, "subject", "role=id, once per role (at least one)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cred == "" || q.Procedure == "" || q.CaseID == "" || len(subjects) == 0 {
		return usagef("--credentials, --procedure, --case-id and at least one --subject are required")
	}
	q.Subjects = subjects
	_, c, err := loadClient(*cred, *url)
	if err != nil {
		return err
	}
	a, err := (&connectors.Requester{Client: c}).Case(ctx, q)
	if err != nil {
		return err
	}
	type item struct {
		Role     string         `json:"role"`
		Dataset  string         `json:"dataset"`
		RecordID string         `json:"record_id"`
		Issuer   string         `json:"issuer"`
		Data     map[string]any `json:"data"`
		Receipt  map[string]any `json:"receipt"`
	}
	items := []item{}
	for _, it := range a.Items {
		items = append(items, item{Role: it.Role, Dataset: it.Dataset, RecordID: it.Record.ID, Issuer: it.Record.Issuer, Data: it.Data,
			Receipt: map[string]any{"fields": it.Receipt.Fields, "policy": it.Receipt.Policy}})
	}
	out := map[string]any{
		"verified": true, "procedure": a.Procedure, "purpose": a.Purpose, "case_id": a.CaseID,
		"complete": a.Complete, "items": items, "missing": a.Missing, "request_id": a.RequestID,
	}
	enc := json.NewEncoder(e.out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
