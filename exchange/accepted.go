package exchange

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/exchange/view"
	"github.com/onevisit/onevisit/exchange/wire"
)

// acceptedItem verifies a record read back from an accepted topic and
// returns what it changes in the view, for the view applier (viewapply.go).
// Anyone with a broker credential can write to that topic, so nothing in
// the message is trusted but what verifies: the node MAC over topic, key,
// acceptance time and record (which vouches for the record's signature,
// checked when a node accepted it); the record's kid naming a record key
// its issuer owns (as of that acceptance time); its dataset against the
// topic; the issuer's publisher grant; and its subject binding. The view
// is keyed by the pseudonym of the subject the verified record names,
// never by the message key. A record that fails gives an item without an
// entry (the checkpoint still moves past it), is counted in
// onevisit_view_records_refused_total and logged by position and code only
// (its contents may carry identity numbers). ok is false only when ctx
// ended first.
func (n *Node) acceptedItem(ctx context.Context, m kafka.Message) (it view.Item, ok bool) {
	it = view.Item{Topic: m.Topic, Partition: m.Partition, Next: m.Offset + 1}
	ds, known := n.p.Kafka.Names.DatasetOf(m.Topic)
	if !known || m.Value == nil {
		return it, true
	}
	raw := string(m.Value)
	id := string(header(m, "onevisit-record-id"))
	// This node's own write: its pipeline may have put exactly this record
	// under this key in the view already, verified. Then the view only
	// learns where it sits in the log (view.Entry.Pos), which orders
	// same-second updates. The onevisit-node header (no MAC covers it)
	// only decides whether to look: a wrong one costs a lookup or a
	// verification, it is never trusted. Other nodes' records, all of
	// them while a new node rebuilds its view, skip the lookup.
	if string(header(m, "onevisit-node")) == n.p.Node {
		if cur, held := n.view.Current(ds, string(m.Key)); held && cur.ID == id && cur.Same(raw) {
			if cur.Pos == 0 {
				if _, err := n.checkAcceptedMAC(m); err == nil {
					it.Subject, it.Entry = string(m.Key), cur.At(m.Offset)
				}
			}
			return it, true
		}
	}
	refuse := func(err error) (view.Item, bool) {
		c := refusalCode(err)
		n.viewRefused.WithLabelValues(ds, c).Inc()
		n.p.Logger.Warn("record in accepted topic refused; not in the view", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "code", c)
		return it, true
	}
	v, err := n.checkAcceptedMAC(m)
	if err != nil {
		return refuse(err)
	}
	var entry *view.Entry
	var subject string
	if e, writing := n.pipeline.Writing(string(header(m, "onevisit-issuer")), ds, id); writing && e.Same(raw) {
		// This node's pipeline verified these very bytes (signature,
		// dataset, grant, binding) and is writing them now: the subject is
		// in its verified subject disclosure.
		sd, _ := n.p.Schemas.Dataset(ds)
		entry, subject = e.At(m.Offset), entrySubject(e, sd.Subject)
	}
	if subject == "" {
		rec, _, subj, err := n.verifyAccepted(v, ds)
		if err != nil {
			return refuse(err)
		}
		subject, entry = subj, view.FromRecord(rec, v.at).At(m.Offset)
	}
	// The pseudonym key may be unreachable for a while: the record waits
	// (and the tail with it); it is never keyed otherwise.
	for attempt := 0; ; attempt++ {
		pseud, err := n.pseud.Of(ctx, subject)
		if err == nil {
			it.Subject, it.Entry = pseud, entry
			return it, true
		}
		if ctx.Err() != nil {
			return it, false
		}
		n.p.Logger.Warn("pseudonym unavailable; accepted-topic tail waiting", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
		backoff(ctx, attempt)
	}
}

// entrySubject is the identifier in the disclosure of field, of an entry
// this node verified; "" if there is none.
func entrySubject(e *view.Entry, field string) string {
	for _, d := range e.Disclosure {
		if d.Name != field {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(d.Encoded)
		var arr []any
		if err != nil || json.Unmarshal(b, &arr) != nil || len(arr) != 3 {
			return ""
		}
		id, _ := arr[2].(string)
		return id
	}
	return ""
}

// refusalCode is the code an accepted-topic record that did not verify is
// counted and logged under.
func refusalCode(err error) string {
	if err == errNoNodeMAC {
		return "no_node_mac"
	}
	return wire.Of(err).Name
}

// vouched is an accepted-topic message whose node MAC verified, with the
// acceptance time that MAC covers. Only checkAcceptedMAC makes one, so
// whatever takes a vouched (verifyAccepted, record.Vouched behind it)
// never sees bytes no MAC covers.
type vouched struct {
	m  kafka.Message
	at int64 // unix milliseconds
}

// checkAcceptedMAC checks what only a node writes on an accepted topic:
// its MAC covers the topic, the key, the onevisit-accepted-at header and
// the record, so nothing produced with a broker credential alone, nor a
// genuine record replayed under another key or with a back-dated
// acceptance time, gets further.
func (n *Node) checkAcceptedMAC(m kafka.Message) (vouched, error) {
	if !n.acceptedMAC.Load().check(m) {
		return vouched{}, errNoNodeMAC
	}
	at, _ := strconv.ParseInt(string(header(m, "onevisit-accepted-at")), 10, 64)
	if at <= 0 {
		return vouched{}, fmt.Errorf("exchange: accepted record without its acceptance time: %w", record.ErrMalformed)
	}
	return vouched{m: m, at: at}, nil
}

// verifyAccepted verifies a record read from the accepted topic of ds
// as it enters the view or a delivery. Its node MAC over topic, key,
// acceptance time and these exact bytes verified (checkAcceptedMAC made
// v): a node verified the record's signature when it accepted it, so the
// signature math is not done again (record.Vouched:
// it was 26 % of a new node's CPU while rebuilding its view). Everything
// else is checked as of now: the key its kid names was a record key of
// its issuer, not revoked, at acceptance; its syntax, claims and
// disclosures; its dataset; the issuer's grant; its subject binding. It
// returns the record, its subject disclosure and the subject's identifier.
func (n *Node) verifyAccepted(v vouched, ds string) (*record.Record, record.Disclosure, string, error) {
	sd, _ := n.p.Schemas.Dataset(ds)
	rec, err := record.Vouched(string(v.m.Value), keys.AcceptedBefore(n.dir, time.UnixMilli(v.at)))
	switch {
	case err != nil:
	case rec.Dataset != ds:
		err = fmt.Errorf("exchange: record of %s in the topic of %s: %w", rec.Dataset, ds, ingest.ErrDatasetMismatch)
	case !n.policy.Load().MayPublish(rec.Issuer, rec.Dataset).Allowed:
		err = fmt.Errorf("exchange: issuer may not publish %s: %w", ds, ingest.ErrNoGrant)
	case rec.SubjectField != sd.Subject:
		err = fmt.Errorf("exchange: sub_field is not %s: %w", sd.Subject, record.ErrNoSubjectBinding)
	default:
		subj, subject, err := rec.Subject()
		return rec, subj, subject, err
	}
	return nil, record.Disclosure{}, "", err
}
