// Package live is the wire format of a live query, shared by the exchange
// and the department's responder (connectors.Responder): what the
// exchange asks on request.<dataset> and what the responder answers on
// reply.<dataset> (exchange/bus).
//
// # Request
//
// The value of a request message is a compact JWS, header
// {"alg":"EdDSA","kid":...,"typ":"onevisit-live-request+jwt"}, signed
// with the exchange's receipt key (a key of use receipt, owner exchange,
// listed in GET /v1/keys), with the claims
//
//	iss      "onevisit"
//	jti      the request id: "lq-" and 32 lowercase hex digits, random
//	dataset  the dataset asked about
//	subject  the identifier asked about (a resident identity number)
//	iat, exp when it was asked, and its deadline (seconds)
//
// The message key is the request id; there are no headers. The subject
// travels only inside the signed value, never in a key or header; the
// request topic is readable by the dataset's live publisher alone (its
// ACLs) and keeps messages for an hour (bus.LiveRetention). The typ is
// distinct from a receipt's, so neither can be passed off as the other.
//
// A responder acts on a request only when VerifyRequest accepts it: the
// signature verifies with an active or retired exchange key of use
// receipt, iss is "onevisit", the dataset is its own, exp has not
// passed. Anyone else who can write the request topic can make the
// responder do nothing.
//
// # Reply
//
// The value of a reply message is an ordinary OneVisit record
// (exchange/record) that the responder signs when it answers, with its
// own record key: dataset the dataset, jti the request id (the
// signature thus binds the answer to that request), sub_field the
// dataset's subject field, disclosing exactly the identifier asked
// about. An upsert carries the subject's fields; a delete (disclosing
// only the subject field) says the department holds nothing on the
// subject. The message key is the request id.
//
// The exchange takes a reply only after the checks of ingest (signature
// with a record key the issuer owns and that was not revoked, dataset,
// schema, subject binding) plus: the issuer holds a live grant for the
// dataset (policy.Set.MayAnswer), the record id is the id of a request
// this node is waiting for, the disclosed subject is the one it asked
// about, and iat is no earlier than the request's iat minus the allowed
// clock skew. A reply that fails is counted and dropped; the query goes
// on waiting for a valid one until its deadline.
package live
