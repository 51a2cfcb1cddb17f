package codes

import (
	"errors"

	"github.com/onevisit/onevisit/exchange/wire"
)

// The errors of corrections (exchange/corrections.go, POST
// /v1/corrections).
var (
	// ErrNotReceived: the correction does not prove that its filer was
	// given that field of that record in the last 30 days (its record and
	// receipt do not verify, the receipt is another consumer's or older,
	// or the field was not released).
	ErrNotReceived = wire.WithCode("not_received", errors.New("field of a record not received"))
	// ErrUnknownCorrection: no correction with this id that the caller
	// filed or decides.
	ErrUnknownCorrection = wire.WithCode("unknown_correction", errors.New("unknown correction"))
	// ErrCorrectionDecided: the correction is no longer open.
	ErrCorrectionDecided = wire.WithCode("correction_decided", errors.New("correction already decided"))
)
