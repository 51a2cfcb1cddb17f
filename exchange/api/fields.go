package api

import (
	"fmt"

	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/schemas"
)

// The checks of query fields are in package query (query.Required,
// query.CheckSubject, ...); each error is a *codes.FieldError naming the
// field by JSON pointer and never holding its value.

// checkKID refuses a key id with an identity number or credit code inside:
// kids reach the keys topic, the key directory and the audit log.
func checkKID(op, kid string) error {
	if schemas.ContainsIdentity(kid) {
		return &codes.FieldError{Pointer: "/jwk/kid", Err: fmt.Errorf("%s: the kid carries an identity number: %w", op, codes.ErrBadRequest)}
	}
	return nil
}
