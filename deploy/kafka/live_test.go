package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
)

// TestLiveQueryOverACLs: on a cluster with the bindings `kafka setup` derives from the live grant
// (policy/examples/live.yaml: tax-bureau answers tax_certificate live), a department that is not the live
// publisher can neither read the exchange's requests nor answer them, the live publisher cannot forge
// requests, and a live query goes through with every party on its own SCRAM user: the exchange node writes
// the request, the tax bureau's responder reads it and writes its signed answer, the node reads that. With
// the responder stopped the query gets 504 source_timeout.
func TestLiveQueryOverACLs(t *testing.T) {
	w := newWorld(t)
	ex := w.startNode("exchange-1")
	ctx := t.Context()
	const dataset, responder, other = "tax_certificate", "tax-bureau", "public-security"
	request, reply := w.names.Request(dataset), w.names.Reply(dataset)
	junk := []kafka.Message{{Key: []byte("lq-00000000000000000000000000000000"), Value: []byte("not a record")}}
	otherClient := &kafka.Client{Addr: kafka.TCP(w.c.brokers...), Timeout: 20 * time.Second}

	tests := []struct {
		name, user string
		do         func(ctx context.Context) error
		wantErr    error
	}{
		{"another department answers", other, func(ctx context.Context) error { return writeWith(ctx, t, w, other, reply, junk...) }, kafka.TopicAuthorizationFailed},
		{"another department reads the requests", other, func(ctx context.Context) error { return readErr(ctx, t, w, other, request) }, kafka.TopicAuthorizationFailed},
		{"another department joins the responders' group", other, func(ctx context.Context) error {
			otherClient.Transport = transport(t, other, w.passwords[other])
			return joinErr(ctx, otherClient, w.names.Responders(dataset), request)
		}, kafka.GroupAuthorizationFailed},
		{"the live publisher writes a request", responder, func(ctx context.Context) error { return writeWith(ctx, t, w, responder, request, junk...) }, kafka.TopicAuthorizationFailed},
		{"the live publisher writes a reply", responder, func(ctx context.Context) error { return writeWith(ctx, t, w, responder, reply, junk...) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var last error
			err := eventually(ctx, 20*time.Second, func(ctx context.Context) error {
				last = tc.do(ctx)
				if errors.Is(last, tc.wantErr) || (tc.wantErr == nil && last == nil) {
					return nil
				}
				return fmt.Errorf("as %s: got %v, want %v", tc.user, last, tc.wantErr)
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}

	// The tax bureau's responder on its own SCRAM user.
	f, err := samples.FS.Open("tax.csv")
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := w.schemas.Dataset(dataset)
	items, err := connectors.ReadCSV(f, w.schemas, ds.Latest)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	rows := connectors.BySubject(items, ds.Subject)
	ub := w.userBus(responder)
	rd, err := ub.GroupReader(w.names.Responders(dataset), []string{request})
	if err != nil {
		t.Fatal(err)
	}
	wr, err := ub.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Close()
	// The writer's transport may have cached the cluster's metadata before `kafka setup` made this world's
	// topics: wait until it knows the reply topic.
	cl := &kafka.Client{Addr: wr.Addr, Transport: wr.Transport, Timeout: 10 * time.Second}
	if err := eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{reply}})
		if err != nil {
			return err
		}
		if len(md.Topics) != 1 || md.Topics[0].Error != nil {
			return fmt.Errorf("metadata of %s: %v", reply, md.Topics)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	signer, err := w.credentials(responder).RecordSigner()
	if err != nil {
		t.Fatal(err)
	}
	r := &connectors.Responder{
		Issuer: responder, Dataset: dataset, Schema: ds.Latest, SubjectField: ds.Subject, Signer: signer,
		Lookup: connectors.MapLookup(rows), Keys: (&connectors.Requester{Client: w.apiClient(responder, ex)}).Keys,
		Reader: rd, Writer: wr, Names: w.names,
	}
	rctx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- r.Run(rctx) }()

	q := &connectors.Requester{Client: w.apiClient("property-transfer", ex)}
	query := connectors.Query{Dataset: dataset, Subject: samples.GuardianResidentID, Purpose: "property_transfer", CaseID: "PT-2026-9301"}
	var ans *connectors.Answer
	// The responder's group may take seconds to form: until then requests time out.
	if err := eventually(ctx, 120*time.Second, func(ctx context.Context) error {
		a, err := q.Query(ctx, query)
		if err != nil {
			return err
		}
		ans = a
		return nil
	}); err != nil {
		t.Fatalf("live query over the ACLs: %v\n%s", err, ex.logTail(20))
	}
	if ans.Record.Issuer != responder || ans.Data["certificate_no"] != rows[samples.GuardianResidentID]["certificate_no"] {
		t.Errorf("live answer: issuer %s, data %v", ans.Record.Issuer, ans.Data)
	}

	stop()
	if err := <-stopped; err != nil {
		t.Errorf("responder: %v", err)
	}
	rd.Close()
	var apiErr *connectors.APIError
	if _, err := q.Query(ctx, query); !errors.As(err, &apiErr) || apiErr.Status != 504 || apiErr.Code != "source_timeout" {
		t.Errorf("query with the responder stopped: got %v, want 504 source_timeout", err)
	}
}
