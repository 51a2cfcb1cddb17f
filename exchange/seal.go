package exchange

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/bus"
	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/ingest"
	"github.com/onevisit/onevisit/exchange/keys"
)

// acceptedMACHeader carries a node's MAC on an accepted-topic message
// (see the package doc).
const acceptedMACHeader = "onevisit-accepted-mac"

// Domain-separation prefixes of the accepted-record MAC: its key is
// derived from the exchange's HMAC key apart from subject pseudonyms and
// the audit MAC key.
const (
	recordMACKeyDomain = "onevisit/accepted-mac-key/v1\x00"
	recordMACDomain    = "onevisit/accepted-record/v1\x00"
)

// errNoNodeMAC: an accepted-topic message without a valid node MAC.
var errNoNodeMAC = errors.New("accepted record not written by an exchange node")

// recordMAC makes and checks the MACs of accepted-topic messages.
type recordMAC struct{ key []byte }

// newRecordMAC derives the key from h (one call to the key backend).
func newRecordMAC(ctx context.Context, h keys.HMACer) (*recordMAC, error) {
	k, err := h.HMAC(ctx, []byte(recordMACKeyDomain))
	if err != nil {
		return nil, fmt.Errorf("exchange: derive accepted-record MAC key: %w", err)
	}
	return &recordMAC{key: k}, nil
}

// sum is HMAC-SHA256 over the domain and, each preceded by its length as
// 8 bytes big-endian, the topic, the message key, the
// onevisit-accepted-at header and the value.
func (r *recordMAC) sum(m kafka.Message) []byte {
	h := hmac.New(sha256.New, r.key)
	h.Write([]byte(recordMACDomain))
	var n [8]byte
	for _, part := range [][]byte{[]byte(m.Topic), m.Key, header(m, "onevisit-accepted-at"), m.Value} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return h.Sum(nil)
}

func (r *recordMAC) seal(m kafka.Message) []byte {
	return []byte(base64.RawURLEncoding.EncodeToString(r.sum(m)))
}

// check reports whether m carries a valid MAC, in constant time.
func (r *recordMAC) check(m kafka.Message) bool {
	got, err := base64.RawURLEncoding.Strict().DecodeString(string(header(m, acceptedMACHeader)))
	return err == nil && hmac.Equal(got, r.sum(m))
}

// header returns the value of the last header named key, or nil.
func header(m kafka.Message, key string) []byte {
	var v []byte
	for _, h := range m.Headers {
		if h.Key == key {
			v = h.Value
		}
	}
	return v
}

// sealingWriter adds this node's MAC to every message bound for the audit
// topic (audit.MACHeader) or an accepted topic (acceptedMACHeader),
// whoever in the node writes it (the API, the ingest pipeline). Before the
// keys are derived it writes nothing.
type sealingWriter struct {
	w        ingest.Writer
	names    bus.Names
	audit    *atomic.Pointer[audit.Sealer]
	accepted *atomic.Pointer[recordMAC]
}

func (s *sealingWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	sealer, am := s.audit.Load(), s.accepted.Load()
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		var mac kafka.Header
		switch {
		case m.Topic == s.names.Audit():
			if sealer == nil {
				return fmt.Errorf("exchange: audit MAC key not derived yet: %w", codes.ErrUnavailable)
			}
			mac = kafka.Header{Key: audit.MACHeader, Value: sealer.Seal(m.Value)}
		case s.isAccepted(m.Topic):
			if am == nil {
				return fmt.Errorf("exchange: accepted-record MAC key not derived yet: %w", codes.ErrUnavailable)
			}
			mac = kafka.Header{Key: acceptedMACHeader, Value: am.seal(m)}
		}
		if mac.Key != "" {
			m.Headers = append(m.Headers[:len(m.Headers):len(m.Headers)], mac)
		}
		out[i] = m
	}
	return s.w.WriteMessages(ctx, out...)
}

func (s *sealingWriter) isAccepted(topic string) bool {
	d, ok := s.names.DatasetOf(topic)
	return ok && topic == s.names.Accepted(d)
}
