package wire

// Delivery is one message of a subscriber's delivery topic
// (bus.Names.Deliver): a record a Subscription releases, pushed as the
// exchange accepted it. Record and Receipt are exactly what a query
// answer carries (the publisher's signed record with only the released
// disclosures, and the exchange's signed receipt, whose jti is the
// delivery id); the subscriber verifies both itself
// (connectors.Subscriber), reads the fields from the record's verified
// disclosures, and trusts nothing else in the message: anyone with a
// broker credential could have produced it. Unlike a query answer it has
// no plain "data" copy of the fields, so no identity number stands in
// clear in the topic (as in the accepted topics, the disclosures are
// base64url).
//
// ID is the same for every copy of one delivery (the exchange delivers at
// least once): a subscriber handles each id once.
type Delivery struct {
	// Kind is "" for a record, DeliveryCorrectionNotice for a notice
	// (Notice set, Record empty).
	Kind         string            `json:"kind,omitempty"`
	Notice       *CorrectionNotice `json:"notice,omitempty"`
	ID           string            `json:"delivery_id"`
	Subscription string            `json:"subscription"`
	Dataset      string            `json:"dataset"`
	Purpose      string            `json:"purpose"`
	Record       string            `json:"record"`
	Receipt      string            `json:"receipt"`
}

// DeliveryIDHeader is the Kafka header carrying Delivery.ID (for tools; the
// subscriber reads the id from the verified receipt).
const DeliveryIDHeader = "onevisit-delivery-id"
