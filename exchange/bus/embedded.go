package bus

import (
	"slices"
	"strings"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is a Kafka-protocol broker in this process (kfake): dev
// mode's, and the unit tests'. Its Close also drops the process's shared
// transports to its addresses (Transport): the kernel hands its ports out
// again, and a broker started later at the same address must not be
// answered by the closed one's connections and cached metadata, which
// name topics the new one does not have.
type Embedded struct {
	*kfake.Cluster
	brokers []string
}

// StartEmbedded starts an embedded broker: by default one, on a free
// loopback port; opts are kfake's and come after those defaults.
func StartEmbedded(opts ...kfake.Opt) (*Embedded, error) {
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(0)}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Embedded{Cluster: c, brokers: c.ListenAddrs()}, nil
}

// Brokers are the addresses the broker listens on.
func (e *Embedded) Brokers() []string { return slices.Clone(e.brokers) }

// Close stops the broker and forgets the shared transports to it.
func (e *Embedded) Close() {
	e.Cluster.Close()
	b := strings.Join(e.brokers, ",")
	transports.Range(func(k, t any) bool {
		if k.(transportKey).brokers == b {
			transports.Delete(k)
			t.(*kafka.Transport).CloseIdleConnections()
		}
		return true
	})
}
