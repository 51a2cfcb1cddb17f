package citizen

import "time"

// SetNow sets the verifier's clock, for tests.
func SetNow(v *Verifier, now func() time.Time) { v.now = now }
