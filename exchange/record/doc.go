// Package record is the signed record format of OneVisit, shared by the
// exchange and the connectors. This comment is the format's
// specification.
//
// # Form
//
// A record is an SD-JWT (RFC 9901) in compact form with no key binding:
//
//	<issuer-signed JWT>~<disclosure>~<disclosure>~...~
//
// It always ends in "~". A record with no fields is "<JWT>~". The whole
// record is at most MaxSize (1 MiB) bytes.
//
// # Issuer-signed JWT
//
// A compact JWS. Header, exactly these members:
//
//	{"alg":"EdDSA","kid":"<key>#<version>","typ":"onevisit+sd-jwt"}
//
// alg is always EdDSA (Ed25519). kid names a version of the publisher's
// record key in the exchange's key directory (JWKS). typ is compared
// case-insensitively, with an optional "application/" prefix (RFC 7515).
// Any other header member (crit, jku, jwk, x5u, ...) is refused.
//
// Payload, a JSON object whose names are matched exactly:
//
//	iss      string    publisher client id; must own the kid           required
//	dataset  string    dataset name                                    required
//	schema   string    a version of dataset's schema, "household/v1"   required
//	jti      string    record id, unique per (iss, dataset)            required
//	iat      number    NumericDate made; at most 5 min in the future   required
//	op       string    "upsert" or "delete"                            required
//	sub_field string   name of the disclosure holding the subject's    required by
//	                   identifier (see Subject binding)                ingest
//	_sd      [string]  digests of the disclosures, sorted; may hold    required when
//	                   decoys (digests with no disclosure)             fields are present
//	_sd_alg  string    "sha-256"; absent means sha-256                 optional
//	exp, nbf number    NumericDates, checked when present              optional
//
// Any other claim is refused (ErrMalformed). OneVisit writes _sd and
// _sd_alg always, and no exp or nbf unless asked.
//
// # Disclosures
//
// Every data field is one disclosure: the base64url (no padding) of the
// UTF-8 JSON array [salt, name, value], where salt is 128 random bits in
// base64url, name the field name and value any JSON value. Its digest is
// base64url(sha-256(the ASCII bytes of the encoded disclosure)), and the
// digest is in _sd. The digest is over the encoding exactly as sent, so
// any re-encoding (other spacing, escaping) is a different disclosure.
//
// Records are flat: array-element disclosures ([salt, value]) and values
// holding "_sd" or "..." keys are refused (ErrBadDisclosure), and so is a
// field named like a payload claim or "_sd"/"...". A digest twice in _sd,
// a disclosure presented twice, and two disclosures of the same field
// are refused (ErrDuplicateDisclosure). A disclosure whose digest is not
// in _sd is refused (ErrBadDisclosure).
//
// All JSON (header, payload, disclosures) is decoded strictly
// (schemas/jsonstrict): a duplicate or case-variant key, invalid
// UTF-8 or excessive nesting is refused. base64url must be canonical.
//
// # Subject binding
//
// An answer must be provably about the subject the requester asked for:
// otherwise the exchange (or anyone who can write to an accepted topic)
// could serve resident B's genuine record as resident A's, and it would
// verify. The record does not name its subject in clear (a subscriber may
// not be allowed to see the identifier), and a plain hash of an 18-digit
// resident ID is no protection: there are few enough valid ones to try
// them all. A keyed hash (the exchange's pseudonym) is safe but the
// requester cannot recompute it, so it cannot check it.
//
// So the binding is a disclosure, like every field: the subject's
// identifier is the dataset's subject field (the schema's
// x-onevisit-subject, e.g. resident_id; a unified social credit code for a
// company subject) carried as an ordinary salted disclosure, and the
// signed payload names that field in sub_field. The salt makes the digest
// in _sd a hiding commitment nobody can brute-force; the signature makes
// sub_field and the digest unforgeable by the exchange.
//
//   - A publisher sets sub_field to the dataset's subject field and
//     discloses that field (Sign refuses a sub_field that names no
//     non-empty string field).
//   - Ingest refuses a record whose sub_field is absent or is not the
//     dataset's subject field (ErrNoSubjectBinding), and keys the record
//     by the pseudonym of that disclosure's value, never by anything
//     else. A node reading the accepted topics back checks the same.
//   - The exchange always discloses the subject field to a requester, on
//     top of the fields its policy allows: the requester sent that very
//     identifier, so it learns nothing new. The receipt names the subject
//     by a commitment the requester can check: subject_sd, the digest of
//     the subject's disclosure.
//   - The requester (connectors.Requester) refuses an answer whose
//     record has no binding, whose sub_field disclosure is not exactly the
//     identifier it asked about, or whose receipt commits to another
//     disclosure (connectors.ErrWrongSubject).
//   - A delete discloses exactly its subject field, so a delete is bound
//     the same way.
//
// Record.Subject returns the binding of a parsed record.
//
// # Verifying and withholding
//
// Verify checks, over the exact bytes received: size, form, alg, typ, the
// Ed25519 signature with the key the kid names in a pinned key set (a
// record key, owned by iss), exp/nbf, the required claims and every
// disclosure. Numbers in field values decode as json.Number.
//
// Project drops the disclosures of fields a consumer may not see, keeping
// the JWT and the other disclosures byte for byte: the consumer verifies
// what it gets against the publisher's key, and learns nothing of the
// withheld fields but their count (hidden among decoys, if any). The
// exchange can withhold; it cannot forge.
//
// Any JOSE library verifies the JWT; the disclosure digests follow RFC
// 9901, so any SD-JWT implementation that accepts the typ verifies
// records too (the tests check this with go-jose).
//
// # Cost
//
// Verify is on the ingest hot path: one Ed25519 verification, one
// sha-256 per disclosure, and strict JSON decoding of the header, the
// payload and each disclosure, each in one pass (jsonstrict). Each
// disclosure is base64-decoded and JSON-decoded once, from one buffer
// per record; digests are matched against _sd without allocating
// (pairwise up to 16 entries, with maps beyond). The signature check
// itself is golang-jwt/jwt/v5's, pinned to EdDSA, and is about two thirds
// of Verify: BenchmarkVerify against BenchmarkEd25519Verify (and their
// Parallel variants) measure the ratio, which ingest keeps under 2, i.e.
// at least half the bare verify rate.
package record
