package atmosphere

import (
	"encoding/json"
	"net/http"
)

// Code is an error code of the Navixy API (its common error table). The
// same codes appear in HTTP answers ({"success":false,"status":{...}}) and
// in error frames on the subscription connection ({"type":"error",...}).
type Code int

// Error codes this dialect uses, with Navixy's numbers.
const (
	CodeWrongHash          Code = 3   // hash missing or not 32 hex digits
	CodeSessionNotFound    Code = 4   // unknown or expired session or API key
	CodeWrongFormat        Code = 5   // not a JSON object, or no known action
	CodeUnexpected         Code = 6   // internal failure
	CodeInvalidParameters  Code = 7   // a parameter is missing or wrong
	CodeTooLarge           Code = 9   // request over the size limit
	CodeAccessDenied       Code = 11  // not allowed to call this
	CodeTooManyRequests    Code = 15  // action rate limit exceeded
	CodeWrongLogin         Code = 102 // wrong login or password
	CodeNotActivated       Code = 103 // user not activated
	CodeLoginsLimit        Code = 104 // too many sessions of the user
	CodeLoginAttemptsLimit Code = 105 // too many user/auth attempts
	CodeNotFound           Code = 204 // publisher API: no such entity
)

var codeText = map[Code]string{
	CodeWrongHash:          "Wrong hash",
	CodeSessionNotFound:    "User or API key not found or session ended",
	CodeWrongFormat:        "Wrong request format",
	CodeUnexpected:         "Unexpected error",
	CodeInvalidParameters:  "Invalid parameters",
	CodeTooLarge:           "Too large request",
	CodeAccessDenied:       "Access denied",
	CodeTooManyRequests:    "Too many requests (rate limit exceeded)",
	CodeWrongLogin:         "Wrong login or password",
	CodeNotActivated:       "User not activated",
	CodeLoginsLimit:        "Logins limit exceeded",
	CodeLoginAttemptsLimit: "Login attempts limit exceeded",
	CodeNotFound:           "Entity not found",
}

// Description returns Navixy's description of c.
func (c Code) Description() string {
	if s, ok := codeText[c]; ok {
		return s
	}
	return "Unexpected error"
}

// HTTPStatus returns the HTTP status Navixy answers c with: 400 unless its
// table says otherwise.
func (c Code) HTTPStatus() int {
	switch c {
	case CodeUnexpected:
		return http.StatusInternalServerError
	case CodeTooLarge:
		return http.StatusPreconditionFailed
	case CodeAccessDenied:
		return http.StatusForbidden
	case CodeTooManyRequests:
		return http.StatusTooManyRequests
	case CodeNotFound:
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// Error is an API error: a code and, optionally, what it is about. It is
// also a Go error.
type Error struct {
	Code Code
	// Data is the "data" of an error frame: part of the request, or a
	// string saying what was wrong. nil leaves it out.
	Data any
}

// Error returns the description, and what the error is about when Data is
// a string.
func (e *Error) Error() string {
	if s, ok := e.Data.(string); ok && s != "" {
		return e.Code.Description() + ": " + s
	}
	return e.Code.Description()
}

// apiErr returns an *Error with code and data.
func apiErr(code Code, data any) *Error { return &Error{Code: code, Data: data} }

// status is the "status" object of errors.
type status struct {
	Code        Code   `json:"code"`
	Description string `json:"description"`
}

// errorFrame encodes the error frame answering action ("subscribe",
// "unsubscribe", or "" when it is not known) on the subscription
// connection.
func errorFrame(action string, e *Error) []byte {
	var act *string
	if action != "" {
		a := "subscription/" + action
		act = &a
	}
	b, err := json.Marshal(struct {
		Type   string  `json:"type"`
		Action *string `json:"action"`
		Status status  `json:"status"`
		Data   any     `json:"data,omitempty"`
	}{"error", act, status{e.Code, e.Code.Description()}, e.Data})
	if err != nil { // Data came from a parsed request: it always encodes
		return []byte(`{"type":"error","action":null,"status":{"code":6,"description":"Unexpected error"}}`)
	}
	return b
}

// writeAPIError answers an HTTP API call with e in the common format.
func writeAPIError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Code.HTTPStatus(), struct {
		Success bool   `json:"success"`
		Status  status `json:"status"`
		Data    any    `json:"data,omitempty"`
	}{false, status{e.Code, e.Code.Description()}, e.Data})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"success":false,"status":{"code":6,"description":"Unexpected error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
