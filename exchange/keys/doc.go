// Package keys holds the key contracts of OneVisit: the Signer that signs
// records, tokens, receipts and audit tree heads without handing out its
// private key, the HMACer behind subject pseudonyms, and the key directory
// that lists every public key version with its status.
//
// Two backends implement Signer: a file keystore (dev mode; keys are made
// at first start and kept under the data directory with mode 0600) and
// Vault's transit engine (production; keys never leave Vault).
//
// A kid is "<key>#<version>". Version numbers start at 1 and only grow.
package keys
