package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/exchange/keys"
)

// Client is an authenticated HTTP client of the exchange. It gets access
// tokens with signed client assertions (RFC 7523) and renews them before
// they expire. Safe for concurrent use.
type Client struct {
	BaseURL  string // e.g. http://127.0.0.1:8080
	ClientID string
	Auth     keys.Signer // signs assertions (the client's auth key)
	HTTP     *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

// APIError is an error answer of the exchange.
type APIError struct {
	Status    int
	Code      string
	Message   string
	Pointer   string
	RequestID string
}

func (e *APIError) Error() string {
	if e.Pointer != "" {
		return fmt.Sprintf("exchange answered %d %s at %s: %s (request %s)", e.Status, e.Code, e.Pointer, e.Message, e.RequestID)
	}
	return fmt.Sprintf("exchange answered %d %s: %s (request %s)", e.Status, e.Code, e.Message, e.RequestID)
}

// Retriable reports whether the same request may succeed later, for
// retry.Retriable: 502, 503 and 504 (the exchange, or the proxy in front
// of it, cannot take records now, e.g. Kafka is below its min ISR) and 429
// (rate limited: slowing down is the point). Any other status (400, 401,
// 403, 413, 422, 500) refuses the request itself.
func (e *APIError) Retriable() bool {
	switch e.Status {
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout, http.StatusTooManyRequests:
		return true
	}
	return false
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Token returns a valid access token, fetching one when needed.
func (c *Client) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Until(c.expires) > 30*time.Second {
		return c.token, nil
	}
	tokenURL := strings.TrimSuffix(c.BaseURL, "/") + "/v1/token"
	a, err := auth.NewAssertion(ctx, c.Auth, c.ClientID, tokenURL, time.Now())
	if err != nil {
		return "", err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {a},
	}
	req, err := http.NewRequestWithContext(ctx, "POST", tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http().Do(req)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			RequestID   string `json:"request_id"`
		}
		_ = json.Unmarshal(body, &e)
		return "", &APIError{Status: resp.StatusCode, Code: e.Error, Message: e.Description, RequestID: e.RequestID}
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("token: unreadable answer")
	}
	c.token, c.expires = t.AccessToken, time.Now().Add(time.Duration(t.ExpiresIn)*time.Second)
	return c.token, nil
}

// Do sends a JSON request with the bearer token and decodes a JSON answer
// into out. An error answer is an *APIError.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Code, Message, Pointer string
				RequestID              string `json:"request_id"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, Pointer: e.Error.Pointer, RequestID: e.Error.RequestID}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// get fetches a public document.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(c.BaseURL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, &APIError{Status: resp.StatusCode, Code: "http_status", Message: resp.Status}
	}
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}

// IsCode reports whether err is an exchange answer with that code.
func IsCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}
