package dev

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
)

// The live-query example: the tax bureau answers tax_certificate (a live
// dataset, policy/examples/live.yaml) from connectors/samples/tax.csv,
// as `onevisit connector respond` would from the department's own file.
const (
	LiveDataset   = "tax_certificate"
	LivePublisher = "tax-bureau"
	liveSample    = "tax.csv"
)

// Responder is a running responder connector.
type Responder struct {
	R      *connectors.Responder
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Stop stops the responder and waits for it. Safe to call twice.
func (r *Responder) Stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
		r.R.Reader.Close()
		r.R.Writer.Close()
	})
}

// StartResponder runs a responder for dataset as client, answering with
// lookup (the sample rows when nil), in the responders' group.
func (e *Env) StartResponder(client, dataset string, lookup connectors.LookupFunc) (*Responder, error) {
	c, err := e.Credentials(client)
	if err != nil {
		return nil, err
	}
	s, err := c.RecordSigner()
	if err != nil {
		return nil, err
	}
	ds, ok := e.Schemas.Dataset(dataset)
	if !ok {
		return nil, fmt.Errorf("dev: unknown dataset %q", dataset)
	}
	if lookup == nil {
		if lookup, err = e.sampleLookup(dataset); err != nil {
			return nil, err
		}
	}
	cl, err := e.Client(client)
	if err != nil {
		return nil, err
	}
	kc := e.Kafka
	rd, err := kc.GroupReader(kc.Names.Responders(dataset), []string{kc.Names.Request(dataset)})
	if err != nil {
		return nil, err
	}
	w, err := kc.Writer()
	if err != nil {
		rd.Close()
		return nil, err
	}
	r := &connectors.Responder{
		Issuer: c.ClientID, Dataset: dataset, Schema: ds.Latest, SubjectField: ds.Subject, Signer: s, Lookup: lookup,
		Keys: (&connectors.Requester{Client: cl}).Keys, Logger: e.logger,
		Reader: rd, Writer: w, Names: kc.Names,
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &Responder{R: r, cancel: cancel, done: make(chan error, 1)}
	go func() { out.done <- r.Run(ctx) }()
	return out, nil
}

// sampleLookup answers from the sample CSV the live dataset is made of,
// read under the live dataset's schema.
func (e *Env) sampleLookup(dataset string) (connectors.LookupFunc, error) {
	ds, _ := e.Schemas.Dataset(dataset)
	items, err := e.SampleItems(dataset)
	if err != nil {
		return nil, fmt.Errorf("dev: live samples: %w", err)
	}
	return connectors.MapLookup(connectors.BySubject(items, ds.Subject)), nil
}

// startLive starts the live-query example's responder (Env.Live).
func (e *Env) startLive() error {
	r, err := e.StartResponder(LivePublisher, LiveDataset, nil)
	if err != nil {
		return fmt.Errorf("dev: live responder: %w", err)
	}
	e.Live = r
	return nil
}

func (e *Env) liveBanner(w io.Writer) {
	fmt.Fprintf(w, `Live query (the data stays at the tax bureau; its responder answers now, signed):
  go run ./cmd/onevisit query --credentials %s/clients/property-transfer.json \
      --dataset %s --subject %s --purpose property_transfer --case-id PT-2026-0001

`, e.DataDir, LiveDataset, samples.GuardianResidentID)
}
