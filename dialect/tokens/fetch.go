package tokens

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Registered-token list fetching.
const (
	// FetchTimeout bounds one fetch of RegisteredTokensUrl, body included.
	FetchTimeout = 10 * time.Second
	// maxTokenList is the largest RegisteredTokensUrl body read.
	maxTokenList = 16 << 20
)

// fetchLoop fetches the registered-token list from url at once and then
// every refresh (never again when refresh is 0), until ctx is done. A
// failure is logged, once per failed fetch, and the last good list kept.
// It runs on a goroutine of its own, stopped by Shutdown.
func (d *Dialect) fetchLoop(ctx context.Context, url string, refresh time.Duration) {
	where := redactURL(url)
	ok := true // the previous fetch succeeded
	for {
		list, err := fetchTokens(ctx, d.client, url)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			d.log.Warn("registered tokens: fetch failed; keeping the last good list",
				"url", where, "err", err, "retry_in", refreshText(refresh))
			ok = false
		default:
			d.reg.replaceRemote(list)
			msg := "registered tokens: fetched"
			if !ok {
				msg = "registered tokens: fetched again after a failure"
			}
			d.log.Info(msg, "url", where, "tokens", len(list))
			ok = true
		}
		if refresh <= 0 {
			return
		}
		t := time.NewTimer(refresh)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func refreshText(refresh time.Duration) string {
	if refresh <= 0 {
		return "never (registered_tokens_refresh is 0)"
	}
	return refresh.String()
}

// fetchTokens GETs url and decodes its JSON object token -> bool. A non-2xx
// answer, a body over 16 MiB, or anything but a JSON object of booleans is
// an error; an empty JSON array (PHP's encoding of an empty array) is an
// empty list.
func fetchTokens(ctx context.Context, client *http.Client, url string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("HTTP status %s, want 2xx", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenList+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxTokenList {
		return nil, errors.New("body larger than 16 MiB")
	}
	return decodeTokenList(body)
}

// decodeTokenList decodes a registered-token list: a JSON object
// token -> bool, such as {"abc1":true,"group\/item1":true}.
func decodeTokenList(body []byte) (map[string]bool, error) {
	trimmed := bytes.TrimSpace(body)
	if bytes.Equal(trimmed, []byte("[]")) {
		return map[string]bool{}, nil
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("body is not a JSON object token -> bool, such as {\"abc1\":true} (starts with %q)", head(trimmed))
	}
	var list map[string]bool
	if err := json.Unmarshal(trimmed, &list); err != nil {
		return nil, fmt.Errorf("body is not a JSON object token -> bool, such as {\"abc1\":true}: %w", err)
	}
	return list, nil
}

func head(b []byte) string {
	if len(b) > 20 {
		b = b[:20]
	}
	return string(b)
}

// redactURL returns u without its user info and query, which may carry a
// secret, for logs.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}
