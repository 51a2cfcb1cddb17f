package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/receipt"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// Delivery is a verified delivery of a subscription: a record the
// exchange pushed to this consumer's delivery topic, as a Requester's
// Answer is a verified answer.
type Delivery struct {
	// Kind is "" for a record; wire.DeliveryCorrectionNotice for a
	// correction notice, which has Notice set and no Record, Raw, Data or
	// Subject: a record this consumer received was corrected (query again
	// for the new one).
	Kind   string
	Notice *wire.CorrectionNotice
	// ID is the delivery id: the same for every copy of one delivery (the
	// exchange delivers at least once), taken from the verified receipt.
	ID           string
	Subscription string
	Dataset      string
	Purpose      string
	Record       *record.Record // verified against the publisher's key
	Raw          string         // the compact record as received
	Data         map[string]any // the disclosed fields, each checked against the signed digests
	Receipt      receipt.Claims // the exchange's verified receipt (jti = ID)
	RawReceipt   string         // the receipt as received (to file a correction with)
	// Subject is the identifier the record is about (its verified subject
	// disclosure, which the receipt commits to).
	Subject string
}

// Subscriber reads this consumer's delivery topic (bus.Names.Deliver, in
// the group bus.Names.SubscriberGroup) and hands each delivery to a
// handler once it verifies: the receipt against the exchange's key and the
// record it came with, issued to this consumer; the record against its
// publisher's key as of its acceptance; the receipt's subject commitment
// against the record's subject disclosure; and the message's delivery id,
// dataset, purpose and subscription against what the receipt and the
// record sign. The fields handed over are the record's verified
// disclosures. Anyone with a broker credential could write to the
// topic, so a message that does not verify is never handed over: it is
// reported to OnRefused and skipped.
//
// Each id is handed over once within the last Window deliveries (the
// exchange may deliver a record again after a restart, under the same
// id); the offset is committed only after the handler returns nil, so a
// handler error or a crash hands the delivery over again when Run starts
// next (handle ids idempotently across restarts).
type Subscriber struct {
	// Requester verifies: its Client is this consumer's (its ClientID is
	// the receipt's subject) and fetches the key directory.
	Requester *Requester
	// Kafka reaches the cluster as this consumer's principal.
	Kafka bus.Config
	// Window is how many recent delivery ids are remembered (default 10000).
	Window int
	// OnRefused, when set, is told of each message that did not verify
	// (wrapping ErrUnverified), by topic position; it must not fail.
	OnRefused func(partition int, offset int64, err error)
}

// Run hands deliveries to handle until ctx ends (then it returns nil), the
// handler fails, or the reader does.
func (s *Subscriber) Run(ctx context.Context, handle func(context.Context, Delivery) error) error {
	consumer := s.Requester.Client.ClientID
	r, err := s.Kafka.GroupReader(s.Kafka.Names.SubscriberGroup(consumer), []string{s.Kafka.Names.Deliver(consumer)})
	if err != nil {
		return err
	}
	defer r.Close()
	window := s.Window
	if window <= 0 {
		window = 10000
	}
	seen := newIDWindow(window)
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("subscribe: %w", err)
		}
		d, err := s.Verify(ctx, m.Value)
		switch {
		case err != nil:
			if s.OnRefused != nil {
				s.OnRefused(m.Partition, m.Offset, err)
			}
		case seen.has(d.ID):
		default:
			if err := handle(ctx, d); err != nil {
				return fmt.Errorf("subscribe: delivery %s: %w", d.ID, err)
			}
			seen.add(d.ID)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("subscribe: commit: %w", err)
		}
	}
}

// Verify checks one delivery-topic message as Run does.
func (s *Subscriber) Verify(ctx context.Context, value []byte) (Delivery, error) {
	r := s.Requester
	var msg wire.Delivery
	// Strict JSON: no repeated or case-variant keys.
	if err := jsonstrict.Check(value); err != nil {
		return Delivery{}, fmt.Errorf("delivery: %v: %w", err, ErrUnverified)
	}
	if err := json.Unmarshal(value, &msg); err != nil {
		return Delivery{}, fmt.Errorf("delivery: %v: %w", err, ErrUnverified)
	}
	switch msg.Kind {
	case "":
	case wire.DeliveryCorrectionNotice:
		return s.verifyNotice(ctx, msg)
	default:
		return Delivery{}, fmt.Errorf("delivery: kind %q: %w", msg.Kind, ErrUnverified)
	}
	dir, err := r.directory(ctx, false)
	if err != nil {
		return Delivery{}, err
	}
	var rc receipt.Claims
	dir, err = r.withKeys(ctx, dir, func(d *keys.Directory) (err error) {
		rc, err = receipt.Verify(msg.Receipt, d, msg.Record, r.Client.ClientID)
		return err
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery: %v: %w", err, ErrUnverified)
	}
	var rec *record.Record
	_, err = r.withKeys(ctx, dir, func(d *keys.Directory) (err error) {
		rec, err = record.Verify(msg.Record, keys.AcceptedBefore(d, time.UnixMilli(rc.RecordAcceptedAt)))
		return err
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery: record: %v: %w", err, ErrUnverified)
	}
	switch {
	case rc.ID == "" || rc.ID != msg.ID:
		err = fmt.Errorf("delivery id %q is not the receipt's", msg.ID)
	case rc.RecordID != rec.ID || rc.RecordIssuer != rec.Issuer:
		err = fmt.Errorf("the receipt names record %s, the delivery carries %s", rc.RecordID, rec.ID)
	case rc.Dataset != rec.Dataset || msg.Dataset != rec.Dataset:
		err = fmt.Errorf("dataset %s, receipt %s, record %s", msg.Dataset, rc.Dataset, rec.Dataset)
	case msg.Purpose != rc.Purpose || msg.Subscription != rc.Policy:
		err = errors.New("purpose or subscription differs from the receipt's")
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery: %v: %w", err, ErrUnverified)
	}
	subj, id, err := rec.Subject()
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery: %v: %w: %w", err, ErrWrongSubject, ErrUnverified)
	}
	if rc.SubjectSD != subj.Digest {
		return Delivery{}, fmt.Errorf("delivery: the receipt names another subject than the record: %w: %w", ErrWrongSubject, ErrUnverified)
	}
	return Delivery{ID: rc.ID, Subscription: rc.Policy, Dataset: rec.Dataset, Purpose: rc.Purpose, Record: rec, Raw: msg.Record,
		Data: rec.Fields(), Receipt: rc, RawReceipt: msg.Receipt, Subject: id}, nil
}

// verifyNotice checks a correction notice: its receipt, issued to this
// consumer, names the notice (jti), the correction (policy), the
// corrected record, the dataset and the one field, and its record_sha256
// is of the superseded record's id.
func (s *Subscriber) verifyNotice(ctx context.Context, msg wire.Delivery) (Delivery, error) {
	n := msg.Notice
	if n == nil {
		return Delivery{}, fmt.Errorf("notice: none in a %s message: %w", msg.Kind, ErrUnverified)
	}
	r := s.Requester
	dir, err := r.directory(ctx, false)
	if err != nil {
		return Delivery{}, err
	}
	var rc receipt.Claims
	_, err = r.withKeys(ctx, dir, func(d *keys.Directory) (err error) {
		rc, err = receipt.Verify(msg.Receipt, d, n.Superseded, r.Client.ClientID)
		return err
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("notice: %v: %w", err, ErrUnverified)
	}
	if msg.Record != "" || rc.ID == "" || rc.ID != msg.ID || rc.Purpose != wire.DeliveryCorrectionNotice || msg.Purpose != rc.Purpose ||
		rc.Policy != n.Correction || rc.RecordID != n.RecordID || rc.Dataset != msg.Dataset || len(rc.Fields) != 1 || rc.Fields[0] != n.Field {
		return Delivery{}, fmt.Errorf("notice: does not match its receipt: %w", ErrUnverified)
	}
	return Delivery{Kind: wire.DeliveryCorrectionNotice, Notice: n, ID: rc.ID, Dataset: rc.Dataset, Purpose: rc.Purpose, Receipt: rc,
		RawReceipt: msg.Receipt}, nil
}

// idWindow remembers the last n ids.
type idWindow struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func newIDWindow(n int) *idWindow {
	return &idWindow{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (w *idWindow) has(id string) bool { _, ok := w.ids[id]; return ok }

func (w *idWindow) add(id string) {
	if old := w.ring[w.next]; old != "" {
		delete(w.ids, old)
	}
	w.ring[w.next] = id
	w.ids[id] = struct{}{}
	w.next = (w.next + 1) % len(w.ring)
}

// MarshalJSON writes a delivery as one line of `onevisit connector
// subscribe`: the id, subscription, dataset, purpose, the verified fields
// and the compact record and receipt, for the consumer's own records.
func (d Delivery) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Kind         string                 `json:"kind,omitempty"`
		Notice       *wire.CorrectionNotice `json:"notice,omitempty"`
		ID           string                 `json:"delivery_id"`
		Subscription string                 `json:"subscription"`
		Dataset      string                 `json:"dataset"`
		Purpose      string                 `json:"purpose"`
		RecordID     string                 `json:"record_id"`
		Issuer       string                 `json:"issuer"`
		AcceptedAt   int64                  `json:"accepted_at"`
		Data         map[string]any         `json:"data"`
		Record       string                 `json:"record"`
		Receipt      receipt.Claims         `json:"receipt"`
	}{d.Kind, d.Notice, d.ID, d.Subscription, d.Dataset, d.Purpose, d.Receipt.RecordID, d.Receipt.RecordIssuer, d.Receipt.RecordAcceptedAt, d.Data, d.Raw, d.Receipt})
}
