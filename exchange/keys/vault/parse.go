package vault

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/onevisit/onevisit/exchange/keys"
)

// maxVersion bounds version numbers read from kids and from Vault, so no
// input can make a number overflow or allocate in proportion to it.
const maxVersion = 1 << 30

// parseVersion reads a key version: decimal digits, no sign, no leading
// zero, between 1 and maxVersion.
func parseVersion(s string) (int, bool) {
	if s == "" || len(s) > 10 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > maxVersion {
		return 0, false
	}
	return v, true
}

// parseKID splits "<key>#<version>". It fails with keys.ErrUnknownKey for
// anything else, and for a kid of another key than want.
func parseKID(kid, want string) (int, error) {
	name, ver, ok := strings.Cut(kid, "#")
	if !ok || name != want {
		return 0, fmt.Errorf("%w: kid is not %q#<version>", keys.ErrUnknownKey, want)
	}
	v, ok := parseVersion(ver)
	if !ok {
		return 0, fmt.Errorf("%w: kid version is not a positive decimal number", keys.ErrUnknownKey)
	}
	return v, nil
}

// parseVersioned reads Vault's "vault:v<N>:<base64>" form, as transit
// returns signatures and HMACs, and checks the decoded length.
func parseVersioned(s string, wantLen int) (int, []byte, error) {
	rest, ok := strings.CutPrefix(s, "vault:v")
	if !ok {
		return 0, nil, fmt.Errorf("%w: value lacks the vault:v<N>: prefix", ErrBadResponse)
	}
	ver, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, nil, fmt.Errorf("%w: value lacks the vault:v<N>: prefix", ErrBadResponse)
	}
	v, ok := parseVersion(ver)
	if !ok {
		return 0, nil, fmt.Errorf("%w: value has no valid version", ErrBadResponse)
	}
	if len(b64) != base64.StdEncoding.EncodedLen(wantLen) {
		return 0, nil, fmt.Errorf("%w: value is not %d bytes in base64", ErrBadResponse, wantLen)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) != wantLen {
		return 0, nil, fmt.Errorf("%w: value is not %d bytes in base64", ErrBadResponse, wantLen)
	}
	return v, raw, nil
}

// keyState is what a Signer knows of its transit key, read from
// GET <mount>/keys/<name>. It is replaced whole, never changed in place.
type keyState struct {
	typ      string
	latest   int
	minEnc   int                       // 0: every version may sign
	versions []keys.PublicKey          // ascending; empty for a non-signing key
	pub      map[int]ed25519.PublicKey // version -> public key
	loaded   time.Time
}

// has reports whether the key holds version v and v may still sign.
func (k *keyState) canSign(v int) bool {
	if v > k.latest || v < k.minEnc {
		return false
	}
	_, ok := k.pub[v]
	return ok
}

// parseKeyRecord reads the data of a transit key read. Values come from
// the Vault client's decoder (json.Number for numbers). Every field used
// is type-checked; anything unexpected is ErrBadResponse.
func parseKeyRecord(data map[string]any, cfg Config, now time.Time) (*keyState, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: key record: %s", ErrBadResponse, fmt.Sprintf(format, args...))
	}
	typ, ok := data["type"].(string)
	if !ok {
		return nil, bad("no type")
	}
	latest, ok := jsonInt(data["latest_version"])
	if !ok || latest < 1 || latest > maxVersion {
		return nil, bad("latest_version is not a version")
	}
	minEnc, ok := jsonInt(data["min_encryption_version"])
	if !ok || minEnc < 0 || minEnc > latest {
		return nil, bad("min_encryption_version out of range")
	}
	if derived, _ := data["derived"].(bool); derived {
		return nil, fmt.Errorf("%w: key %q is derived; OneVisit needs a non-derived key", ErrKeyType, cfg.Key)
	}
	if cfg.Use != "" && typ != "ed25519" {
		return nil, fmt.Errorf("%w: key %q is %s; a signing key must be ed25519", ErrKeyType, cfg.Key, typ)
	}
	raw, ok := data["keys"].(map[string]any)
	if !ok || len(raw) == 0 {
		return nil, bad("no keys")
	}
	ks := &keyState{typ: typ, latest: latest, minEnc: minEnc, pub: map[int]ed25519.PublicKey{}, loaded: now}
	if typ != "ed25519" {
		return ks, nil
	}
	for vs, entry := range raw {
		v, ok := parseVersion(vs)
		if !ok || v > latest {
			return nil, bad("version %q out of range", vs)
		}
		m, ok := entry.(map[string]any)
		if !ok {
			return nil, bad("version %d is not an object", v)
		}
		pk64, _ := m["public_key"].(string)
		pk, err := base64.StdEncoding.Strict().DecodeString(pk64)
		if err != nil || len(pk) != ed25519.PublicKeySize {
			return nil, bad("version %d public_key is not a base64 Ed25519 key", v)
		}
		ct, _ := m["creation_time"].(string)
		created, err := time.Parse(time.RFC3339Nano, ct)
		if err != nil {
			return nil, bad("version %d creation_time is not RFC 3339", v)
		}
		status := keys.Retired
		if v == latest {
			status = keys.Active
		}
		ks.pub[v] = ed25519.PublicKey(pk)
		ks.versions = append(ks.versions, keys.PublicKey{
			KID:     cfg.Key + "#" + strconv.Itoa(v),
			Owner:   cfg.Owner,
			Use:     cfg.Use,
			Key:     ed25519.PublicKey(pk),
			Status:  status,
			Created: created.UTC(),
		})
	}
	if _, ok := ks.pub[latest]; !ok {
		return nil, bad("latest version %d has no public key", latest)
	}
	sort.Slice(ks.versions, func(i, j int) bool { return kidVersion(ks.versions[i].KID) < kidVersion(ks.versions[j].KID) })
	return ks, nil
}

func kidVersion(kid string) int {
	_, v, _ := strings.Cut(kid, "#")
	n, _ := parseVersion(v)
	return n
}

// jsonInt reads an integer the Vault client decoded as json.Number (or,
// defensively, as float64 or int).
func jsonInt(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || i < -maxVersion || i > maxVersion {
			return 0, false
		}
		return int(i), true
	case float64:
		if n != float64(int64(n)) || n < -maxVersion || n > maxVersion {
			return 0, false
		}
		return int(n), true
	case int:
		return n, n >= -maxVersion && n <= maxVersion
	}
	return 0, false
}
