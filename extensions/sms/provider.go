package sms

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
)

// maxProviderAnswer bounds what is read of a provider's response.
const maxProviderAnswer = 64 << 10

// result is the outcome of one request to the provider.
type result struct {
	status int    // HTTP status; 0 when there was no response
	id     string // the provider's message id
	detail string // the provider's error message, or the transport error
	err    error  // transport error: timeout, refused connection …
}

func (r result) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// retryable: the provider may accept the same SMS later.
func (r result) retryable() bool {
	return r.err != nil || r.status >= 500 || r.status == http.StatusRequestTimeout || r.status == http.StatusTooManyRequests
}

// describe says what went wrong, for the sender and the log.
func (r result) describe() string {
	if r.err != nil {
		return "the provider could not be reached (" + r.detail + ")"
	}
	s := fmt.Sprintf("the provider answered %d %s", r.status, http.StatusText(r.status))
	if r.detail != "" {
		s += ": " + r.detail
	}
	return s
}

// post makes one attempt to hand j to the provider.
func (e *Extension) post(ctx context.Context, j *job) result {
	req, err := e.request(ctx, j)
	if err != nil {
		return result{err: err, detail: err.Error()}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		// url.Error repeats the provider URL, which may hold a key.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return result{err: err, detail: err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProviderAnswer))
	r := result{status: resp.StatusCode}
	var answer struct {
		ID      string `json:"id"`
		SID     string `json:"sid"` // Twilio
		Message string `json:"message"`
		Error   any    `json:"error"`
	}
	if json.Unmarshal(body, &answer) == nil {
		r.id = answer.ID
		if answer.SID != "" {
			r.id = answer.SID
		}
		r.detail = answer.Message
		if s, ok := answer.Error.(string); ok && r.detail == "" {
			r.detail = s
		}
	} else if !r.ok() {
		r.detail = strings.TrimSpace(string(body))
	}
	if len(r.detail) > 200 {
		r.detail = r.detail[:200] + "…"
	}
	return r
}

// request builds the provider request in the configured format.
func (e *Extension) request(ctx context.Context, j *job) (*http.Request, error) {
	c := &e.Config
	if c.ProviderFormat == FormatTwilio {
		form := url.Values{"To": {j.number}, "From": {c.Sender}, "Body": {j.text}}
		if e.statusURL != "" && c.InboundSecret != "" {
			form.Set("StatusCallback", e.statusURL)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ProviderURL, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.AccountSID, c.AuthToken)
		return req, nil
	}
	body, err := json.Marshal(struct {
		To   string `json:"to"`
		From string `json:"from"`
		Text string `json:"text"`
		ID   string `json:"id"`
	}{j.number, c.Sender, j.text, j.ref})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ProviderURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}
