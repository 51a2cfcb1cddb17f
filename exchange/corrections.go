package exchange

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/receipt"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
)

// Corrections. A consumer that received a record files a correction of
// one of its fields (POST /v1/corrections, exchange/api); the request is
// routed to the department that issued the record, on its correction
// inbox (bus.Names.Corrections: one partition per department, written by
// the exchange alone, read by that department and replayed by every node
// for the corrections' state). The department accepts or rejects it
// (POST /v1/corrections/{id}). Once it has accepted and published a newer
// record of the same subject, every consumer that received the corrected
// record in the 30 days before (from the audit log: permitted queries and
// deliveries of that record id) is sent a signed wire.CorrectionNotice on
// its delivery topic, and the correction records the new record's id.
//
// Every inbox message is a snapshot of one correction after an event
// (filed, decided, corrected) with a sequence number, and carries the
// node MAC of accepted records (the MAC covers the topic, so it cannot be
// replayed into an accepted topic or another inbox): a message produced
// with a broker credential alone changes nothing. A node applies a
// snapshot only when its sequence number is higher than the one it holds;
// of two decisions made at once on two nodes the first in the inbox
// stands, and the other caller is told correction_decided.
//
// Errors: codes.ErrNotReceived (the request does not prove the filer
// received that field), codes.ErrUnknownCorrection,
// codes.ErrCorrectionDecided.

// NoticeWindow is how far back a consumer's receipt of a corrected record
// earns it a notice, and how old a receipt a correction may rest on.
const NoticeWindow = 30 * 24 * time.Hour

// correctionEvent is one inbox message.
type correctionEvent struct {
	Event      string          `json:"event"` // filed, decided, corrected
	Seq        int             `json:"seq"`
	Subject    string          `json:"subject"` // the record's subject, as a pseudonym
	Correction wire.Correction `json:"correction"`
}

type correctionState struct {
	seq     int
	subject string
	c       wire.Correction
}

// correctionBook is a node's copy of every correction.
type correctionBook struct {
	mu      sync.Mutex
	byID    map[string]*correctionState
	changed chan struct{} // closed and replaced on every change (as in applied)
	// tails runs until the node stops (nil before tailCorrections); tailed
	// are the departments whose inbox it replays and follows.
	tails  context.Context
	tailed map[string]bool
}

// waitFor returns correction id once the book holds it at sequence seq or
// later; false if ctx ends first.
func (b *correctionBook) waitFor(ctx context.Context, id string, seq int) (correctionState, bool) {
	for {
		b.mu.Lock()
		s, ok := b.byID[id]
		ch := b.changed
		b.mu.Unlock()
		if ok && s.seq >= seq {
			return *s, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return correctionState{}, false
		}
	}
}

func (b *correctionBook) get(id string) (correctionState, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.byID[id]
	if !ok {
		return correctionState{}, false
	}
	return *s, true
}

// applyCorrection applies one inbox message read back from a tail.
func (n *Node) applyCorrection(m kafka.Message) {
	if !n.acceptedMAC.Load().check(m) {
		n.p.Logger.Warn("correction inbox message without a node MAC; skipped", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
		return
	}
	var e correctionEvent
	if err := json.Unmarshal(m.Value, &e); err != nil || e.Correction.ID == "" || n.p.Kafka.Names.Corrections(e.Correction.Department) != m.Topic {
		n.p.Logger.Warn("correction inbox message malformed; skipped", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
		return
	}
	b := &n.corrections
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur, ok := b.byID[e.Correction.ID]; ok && cur.seq >= e.Seq {
		return
	}
	b.byID[e.Correction.ID] = &correctionState{seq: e.Seq, subject: e.Subject, c: e.Correction}
	close(b.changed)
	b.changed = make(chan struct{})
}

// tailCorrections replays and follows, until ctx ends, the inbox of every
// publisher the policy grants a dataset, now and (tailNewInboxes) after
// every policy change.
func (n *Node) tailCorrections(ctx context.Context) {
	n.corrections.mu.Lock()
	n.corrections.tails = ctx
	n.corrections.mu.Unlock()
	n.tailNewInboxes()
}

// tailNewInboxes starts the tail of the inbox of every publisher of the
// current policy that has none yet: a department granted a dataset at
// runtime has its corrections read back like the others.
func (n *Node) tailNewInboxes() {
	b := &n.corrections
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tails == nil {
		return
	}
	for _, dept := range n.policy.Load().AllPublishers() {
		if !b.tailed[dept] {
			b.tailed[dept] = true
			go tailPartition(b.tails, n.p.Kafka, n.p.Logger, n.p.Kafka.Names.Corrections(dept), 0, kafka.FirstOffset, n.applyCorrection)
		}
	}
}

// writeCorrection writes a snapshot to its department's inbox and waits
// (up to 10 s) until this node applied it or a later one.
func (n *Node) writeCorrection(ctx context.Context, event string, seq int, subject string, c wire.Correction) (wire.Correction, error) {
	if err := n.ensureCorrectionTopic(ctx, c.Department); err != nil {
		return wire.Correction{}, err
	}
	body, err := json.Marshal(correctionEvent{Event: event, Seq: seq, Subject: subject, Correction: c})
	if err != nil {
		return wire.Correction{}, err
	}
	m := kafka.Message{Topic: n.p.Kafka.Names.Corrections(c.Department), Key: []byte(c.ID), Value: body}
	m.Headers = []kafka.Header{{Key: acceptedMACHeader, Value: n.acceptedMAC.Load().seal(m)}}
	if err := n.writer.WriteMessages(ctx, m); err != nil {
		return wire.Correction{}, fmt.Errorf("exchange: correction %s: write: %w", c.ID, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, ok := n.corrections.waitFor(wctx, c.ID, seq)
	if !ok {
		return wire.Correction{}, fmt.Errorf("exchange: correction %s written but not read back yet", c.ID)
	}
	return s.c, nil
}

func (n *Node) ensureCorrectionTopic(ctx context.Context, dept string) error {
	if !n.p.CreateTopics {
		return nil
	}
	spec := n.p.Topics
	spec.Publishers = []string{dept}
	return ensureOnce(ctx, n, "corrections/"+dept, spec)
}

// FileCorrection files c (ID, status and times set here) about the
// subject with pseudonym subject, audits it and routes it to c.Department.
func (n *Node) FileCorrection(ctx context.Context, c wire.Correction, subject string) (wire.Correction, error) {
	return n.fileCorrection(ctx, c, subject, c.Filer, "consumer", "POST /v1/corrections")
}

// fileCorrection files c as FileCorrection does; its audit entry names
// actor, role and route.
func (n *Node) fileCorrection(ctx context.Context, c wire.Correction, subject, actor, role, route string) (wire.Correction, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	c.ID, c.Status, c.Filed = "cor-"+hex.EncodeToString(b[:]), wire.CorrectionOpen, time.Now().UTC()
	c.Decision, c.Decided, c.CorrectedRecordID, c.Corrected = "", time.Time{}, "", time.Time{}
	if err := n.trail.Write(ctx, audit.Entry{Time: c.Filed, Kind: audit.KindCorrection, Actor: actor, Role: role,
		Route: route, Dataset: c.Dataset, Subject: subject, RecordID: c.RecordID, Fields: []string{c.Field},
		Reason: c.Reason, Decision: audit.DecisionPermit, Code: "correction_open", RequestID: c.ID, Node: n.p.Node}); err != nil {
		return wire.Correction{}, fmt.Errorf("exchange: correction: audit: %w", err)
	}
	return n.writeCorrection(ctx, "filed", 1, subject, c)
}

// Correction returns the correction id as caller may see it: its filer
// or its department.
func (n *Node) Correction(id, caller string) (wire.Correction, error) {
	s, ok := n.corrections.get(id)
	if !ok || (s.c.Filer != caller && s.c.Department != caller) {
		return wire.Correction{}, fmt.Errorf("correction: %w", codes.ErrUnknownCorrection)
	}
	return s.c, nil
}

// CorrectionsFor lists, oldest first, the corrections routed to
// department.
func (n *Node) CorrectionsFor(department string) []wire.Correction {
	n.corrections.mu.Lock()
	var out []wire.Correction
	for _, s := range n.corrections.byID {
		if s.c.Department == department {
			out = append(out, s.c)
		}
	}
	n.corrections.mu.Unlock()
	slices.SortFunc(out, func(a, b wire.Correction) int { return a.Filed.Compare(b.Filed) })
	return out
}

// DecideCorrection records department's decision (accepted or rejected)
// with its reason. An accepted correction whose record the department has
// already replaced is fulfilled at once.
func (n *Node) DecideCorrection(ctx context.Context, id, department, status, reason string) (wire.Correction, error) {
	s, ok := n.corrections.get(id)
	if !ok || s.c.Department != department {
		return wire.Correction{}, fmt.Errorf("decide correction: %w", codes.ErrUnknownCorrection)
	}
	if s.c.Status != wire.CorrectionOpen {
		return wire.Correction{}, fmt.Errorf("decide correction %s: %s: %w", id, s.c.Status, codes.ErrCorrectionDecided)
	}
	c := s.c
	c.Status, c.Decision, c.Decided = status, reason, time.Now().UTC()
	if err := n.trail.Write(ctx, audit.Entry{Time: c.Decided, Kind: audit.KindCorrection, Actor: department, Role: "publisher",
		Route: "POST /v1/corrections/{id}", Dataset: c.Dataset, Subject: s.subject, RecordID: c.RecordID, Fields: []string{c.Field},
		Reason: reason, Decision: audit.DecisionPermit, Code: "correction_" + status, RequestID: c.ID, Node: n.p.Node}); err != nil {
		return wire.Correction{}, fmt.Errorf("exchange: correction: audit: %w", err)
	}
	got, err := n.writeCorrection(ctx, "decided", s.seq+1, s.subject, c)
	if err != nil {
		return wire.Correction{}, err
	}
	if got.Status != status || got.Decided != c.Decided {
		return got, fmt.Errorf("decide correction %s: decided meanwhile on another node: %w", id, codes.ErrCorrectionDecided)
	}
	if status == wire.CorrectionAccepted {
		if e, ok := n.view.Get(c.Dataset, s.subject); ok && e.ID != c.RecordID && e.Issuer == department && time.UnixMilli(e.AcceptedAt).After(c.Filed) {
			if err := n.fulfil(ctx, id, e); err != nil {
				return got, err
			}
			got, _ = n.Correction(id, department)
		}
	}
	return got, nil
}

// correctionsPending reports whether some accepted correction of dataset
// waits for its corrected record.
func (n *Node) correctionsPending(dataset string) bool {
	n.corrections.mu.Lock()
	defer n.corrections.mu.Unlock()
	for _, s := range n.corrections.byID {
		if s.c.Dataset == dataset && s.c.Status == wire.CorrectionAccepted && s.c.CorrectedRecordID == "" {
			return true
		}
	}
	return false
}

// fulfilCorrections is called by the delivery loop for every verified
// upsert record: each accepted correction of an older record of the same
// subject by the same department is fulfilled by it.
func (n *Node) fulfilCorrections(ctx context.Context, e *view.Entry, subject string) error {
	var ids []string
	n.corrections.mu.Lock()
	for id, s := range n.corrections.byID {
		if s.c.Status == wire.CorrectionAccepted && s.c.CorrectedRecordID == "" && s.subject == subject &&
			s.c.Dataset == e.Dataset && s.c.Department == e.Issuer && s.c.RecordID != e.ID {
			ids = append(ids, id)
		}
	}
	n.corrections.mu.Unlock()
	for _, id := range ids {
		if err := n.fulfil(ctx, id, e); err != nil {
			return err
		}
	}
	return nil
}

// fulfil sends the notices of correction id, corrected by record e, and
// records e's id in the correction. Notice ids are derived from the
// correction and the consumer, so a second fulfilment (another node, a
// redelivery) sends copies under the same ids.
func (n *Node) fulfil(ctx context.Context, id string, e *view.Entry) error {
	s, ok := n.corrections.get(id)
	if !ok {
		return nil
	}
	c := s.c
	since := time.Now().Add(-NoticeWindow)
	var consumers []string
	for _, ie := range n.log.BySubject(s.subject) {
		a := ie.Entry
		if a.Decision != audit.DecisionPermit || a.Dataset != c.Dataset || a.RecordID != c.RecordID || a.Time.Before(since) {
			continue
		}
		switch {
		case a.Kind == audit.KindQuery && a.Actor != "":
			consumers = append(consumers, a.Actor)
		case a.Kind == audit.KindDelivery && a.Code == "" && a.Consumer != "":
			consumers = append(consumers, a.Consumer)
		}
	}
	slices.Sort(consumers)
	for _, consumer := range slices.Compact(consumers) {
		if err := n.sendNotice(ctx, c, e, s.subject, consumer); err != nil {
			return err
		}
	}
	c.CorrectedRecordID, c.Corrected = e.ID, time.Now().UTC()
	if err := n.trail.Write(ctx, audit.Entry{Time: c.Corrected, Kind: audit.KindCorrection, Actor: c.Department, Dataset: c.Dataset,
		Subject: s.subject, RecordID: e.ID, Fields: []string{c.Field}, Decision: audit.DecisionPermit, Code: "correction_corrected",
		RequestID: c.ID, Node: n.p.Node}); err != nil {
		return fmt.Errorf("exchange: correction: audit: %w", err)
	}
	_, err := n.writeCorrection(ctx, "corrected", s.seq+1, s.subject, c)
	return err
}

func (n *Node) sendNotice(ctx context.Context, c wire.Correction, e *view.Entry, subject, consumer string) error {
	h := sha256.Sum256([]byte("onevisit/correction-notice/v1\x00" + c.ID + "\x00" + consumer + "\x00" + e.ID))
	notice := wire.CorrectionNotice{Correction: c.ID, Field: c.Field, Superseded: c.RecordID, RecordID: e.ID}
	return n.sendDelivery(ctx, consumer, subject,
		wire.Delivery{Kind: wire.DeliveryCorrectionNotice, Notice: &notice, ID: "ntc-" + hex.EncodeToString(h[:16]),
			Dataset: c.Dataset, Purpose: wire.DeliveryCorrectionNotice},
		receipt.Claims{RecordID: e.ID, RecordIssuer: e.Issuer, Dataset: c.Dataset, Purpose: wire.DeliveryCorrectionNotice,
			Fields: []string{c.Field}, Policy: c.ID, RecordSHA256: receipt.Digest(notice.Superseded), RecordAcceptedAt: e.AcceptedAt},
		audit.Entry{Dataset: c.Dataset, Purpose: wire.DeliveryCorrectionNotice, RecordID: e.ID, Fields: []string{c.Field},
			Code: "correction_notice", Policy: c.ID})
}
