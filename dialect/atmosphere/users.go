package atmosphere

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// This file manages users and API keys: the publisher API's calls and the
// changes they make to auth. Changes live in this node's memory only; users
// in config come back on restart. The sessions they end, though, end on
// every node (cluster.go).

// userBody is the body of PUT publisher/users/{login}.
type userBody struct {
	Password     string  `json:"password"`
	PasswordHash string  `json:"password_hash"`
	Trackers     []int64 `json:"trackers"`
	DealerID     int64   `json:"dealer_id"`
}

// listUsers serves GET publisher/users.
func (d *Dialect) listUsers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Success bool       `json:"success"`
		Users   []userInfo `json:"users"`
	}{true, d.auth.listUsers()})
}

// putUser serves PUT publisher/users/{login}: it creates the user (a
// password or password_hash is then required) or changes it. A new password
// ends the user's sessions (their subscribers get the logout event);
// trackers, when given, replace the user's, and subscriptions to withdrawn
// trackers end.
func (d *Dialect) putUser(w http.ResponseWriter, r *http.Request) {
	login := r.PathValue("login")
	var b userBody
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		writeAPIError(w, apiErr(CodeWrongFormat, fmt.Sprintf("want {password or password_hash, trackers, dealer_id}: %v", err)))
		return
	}
	var pw []byte
	switch {
	case login == "" || len(login) > maxLogin:
		writeAPIError(w, apiErr(CodeInvalidParameters, "the login must be 1 to 256 bytes"))
		return
	case b.Password != "" && b.PasswordHash != "":
		writeAPIError(w, apiErr(CodeInvalidParameters, "give password or password_hash, not both"))
		return
	case b.Password != "":
		if len(b.Password) > maxPassword {
			writeAPIError(w, apiErr(CodeInvalidParameters, "the password is over 72 bytes"))
			return
		}
		var err error
		if pw, err = bcrypt.GenerateFromPassword([]byte(b.Password), bcryptCost); err != nil {
			writeAPIError(w, apiErr(CodeUnexpected, nil))
			return
		}
	case b.PasswordHash != "":
		if _, err := bcrypt.Cost([]byte(b.PasswordHash)); err != nil {
			writeAPIError(w, apiErr(CodeInvalidParameters, "password_hash is not a bcrypt hash"))
			return
		}
		pw = []byte(b.PasswordHash)
	}
	created, ch := d.auth.putUser(login, pw, b.Trackers, b.DealerID)
	if !created && !d.userExists(login) {
		writeAPIError(w, apiErr(CodeInvalidParameters, "a new user needs a password or password_hash"))
		return
	}
	d.applyUserChange(ch)
	d.log.Info("publisher: user saved", "login", login, "created", created)
	writeJSON(w, http.StatusOK, struct {
		Success bool `json:"success"`
		Created bool `json:"created"`
	}{true, created})
}

func (d *Dialect) userExists(login string) bool {
	d.auth.mu.RLock()
	defer d.auth.mu.RUnlock()
	return d.auth.users[login] != nil
}

// applyUserChange tells connected clients about ended sessions and
// withdrawn trackers. Ended user/auth sessions end on every node.
func (d *Dialect) applyUserChange(ch userChange) {
	for _, e := range ch.ended {
		d.tellEnded(e)
	}
	if len(ch.ended) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		defer cancel()
		for _, e := range ch.ended {
			if !e.s.apiKey {
				d.shareEnd(ctx, e.s.secret)
			}
		}
	}
	for s, ids := range ch.revoked {
		d.auth.mu.RLock()
		clients := make([]*client, 0, len(s.clients))
		for c := range s.clients {
			clients = append(clients, c)
		}
		d.auth.mu.RUnlock()
		for _, c := range clients {
			c.revoke(s, ids)
		}
	}
}

// deleteUser serves DELETE publisher/users/{login}: the user's sessions and
// API keys end and their subscribers get the logout event.
func (d *Dialect) deleteUser(w http.ResponseWriter, r *http.Request) {
	ok, ch := d.auth.deleteUser(r.PathValue("login"))
	if !ok {
		writeAPIError(w, apiErr(CodeNotFound, nil))
		return
	}
	d.applyUserChange(ch)
	d.log.Info("publisher: user deleted", "login", r.PathValue("login"))
	writeJSON(w, http.StatusOK, struct {
		Success bool `json:"success"`
	}{true})
}

// createAPIKey serves POST publisher/api_keys, {"login": "...", "trackers":
// [...]}: a new key for the user, shown once; only its SHA-256 is kept.
func (d *Dialect) createAPIKey(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Login    string  `json:"login"`
		Trackers []int64 `json:"trackers"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		writeAPIError(w, apiErr(CodeWrongFormat, "want {login, trackers}"))
		return
	}
	key, ok := d.auth.newAPIKey(b.Login, b.Trackers)
	if !ok {
		writeAPIError(w, apiErr(CodeNotFound, "no such user"))
		return
	}
	sum := sha256Hex(key)
	d.log.Info("publisher: API key created", "login", b.Login, "key", "key:"+sum[:6])
	writeJSON(w, http.StatusOK, struct {
		Success   bool   `json:"success"`
		Key       string `json:"key"`
		KeySHA256 string `json:"key_sha256"`
	}{true, key, sum})
}

// deleteAPIKey serves DELETE publisher/api_keys/{sha256}.
func (d *Dialect) deleteAPIKey(w http.ResponseWriter, r *http.Request) {
	ok, list := d.auth.deleteAPIKey(r.PathValue("sha256"))
	if !ok {
		writeAPIError(w, apiErr(CodeNotFound, nil))
		return
	}
	d.applyUserChange(userChange{ended: list})
	writeJSON(w, http.StatusOK, struct {
		Success bool `json:"success"`
	}{true})
}

// userChange is what a change of users means for connected clients: the
// sessions that ended, and trackers withdrawn from the sessions that stay.
type userChange struct {
	ended   []ended
	revoked map[*session][]int64
}

// putUser adds or replaces a user. pwHash nil keeps the password; a new
// password ends the user's sessions (not its API keys). Trackers withdrawn
// are reported so that subscriptions to them end.
func (a *auth) putUser(login string, pwHash []byte, trackers []int64, dealerID int64) (created bool, ch userChange) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[login]
	if u == nil {
		if pwHash == nil {
			return false, ch
		}
		a.users[login] = &user{login: login, pwHash: pwHash, trackers: idSet(trackers), dealerID: dealerID, sessions: map[*session]struct{}{}}
		return true, ch
	}
	if pwHash != nil && string(pwHash) != string(u.pwHash) {
		u.pwHash = pwHash
		for s := range u.sessions {
			if !s.apiKey {
				ch.ended = append(ch.ended, ended{s, a.endLocked(s)})
			}
		}
	}
	u.dealerID = dealerID
	if trackers != nil {
		next := idSet(trackers)
		var gone []int64
		for id := range u.trackers {
			if _, ok := next[id]; !ok {
				gone = append(gone, id)
			}
		}
		u.trackers = next
		if len(gone) > 0 {
			ch.revoked = map[*session][]int64{}
			for s := range u.sessions {
				ch.revoked[s] = gone
			}
		}
	}
	return false, ch
}

// deleteUser removes a user, ending its sessions and API keys.
func (a *auth) deleteUser(login string) (bool, userChange) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ch userChange
	u := a.users[login]
	if u == nil {
		return false, ch
	}
	delete(a.users, login)
	for s := range u.sessions {
		ch.ended = append(ch.ended, ended{s, a.endLocked(s)})
	}
	return true, ch
}

// userInfo is a user as the publisher API lists it.
type userInfo struct {
	Login    string  `json:"login"`
	Trackers []int64 `json:"trackers"`
	DealerID int64   `json:"dealer_id,omitempty"`
	Sessions int     `json:"sessions"`
	APIKeys  int     `json:"api_keys"`
}

// listUsers returns every user, sorted by login.
func (a *auth) listUsers() []userInfo {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]userInfo, 0, len(a.users))
	for _, u := range a.users {
		info := userInfo{Login: u.login, Trackers: u.sortedTrackers(), DealerID: u.dealerID}
		for s := range u.sessions {
			if s.apiKey {
				info.APIKeys++
			} else {
				info.Sessions++
			}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(x, y userInfo) int {
		switch {
		case x.Login < y.Login:
			return -1
		case x.Login > y.Login:
			return 1
		}
		return 0
	})
	return out
}

// newAPIKey makes a key for login, returning it (it is not kept) or false
// when there is no such user.
func (a *auth) newAPIKey(login string, trackers []int64) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[login]
	if u == nil {
		return "", false
	}
	key := randomHex(16)
	a.addKeyLocked(u, sha256Hex(key), trackers)
	return key, true
}

// deleteAPIKey removes the API key whose SHA-256 is sum.
func (a *auth) deleteAPIKey(sum string) (bool, []ended) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.keys[strings.ToLower(sum)]
	if s == nil {
		return false, nil
	}
	return true, []ended{{s, a.endLocked(s)}}
}
