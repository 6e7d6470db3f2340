// Package adminapi is the admin API under /admin/ on the main port: the
// Pusher apps (list, create, replace, change, delete, rotate a secret,
// live counts) and a reload of the configuration. JSON in and out; an
// error is {"error": message} with, when one field is at fault, "field"
// naming it. Access is adminauth's: every route is wrapped in the Guard.
//
// Writes go to the app store when it is an appstore.Editor (PostgreSQL);
// with the config file's store they are refused with 409 and a message
// saying how to change the apps instead. A write is answered once this
// node serves it; other nodes follow through the store's change notices.
package adminapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/appstore"
	"github.com/switchboard-rt/switchboard/config"
	"github.com/switchboard-rt/switchboard/dialect/pusher"
	"github.com/switchboard-rt/switchboard/internal/adminauth"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

// Served is what the API reads of the running dialect.
type Served interface {
	// AppStats returns the live counts of a served app.
	AppStats(ctx context.Context, id string) (pusher.AppStats, bool)
}

// Options are what the API works on.
type Options struct {
	// Guard decides who may call the API (required).
	Guard *adminauth.Guard
	// Store holds the apps; writes need an appstore.Editor.
	Store appstore.Store
	// Refresh makes this node serve what the store holds now.
	Refresh func(ctx context.Context) (appstore.Changes, error)
	// Served is the running dialect, for live counts.
	Served Served
	// Reload reads the configuration again and applies it (SIGHUP does
	// the same). A bad configuration returns an error and changes nothing.
	Reload func(ctx context.Context) (appstore.Changes, error)
	// Grace is pusher.secret_grace_period, reported by rotate-secret.
	Grace time.Duration
	// Log gets one line per change made through the API.
	Log *slog.Logger
}

// API serves the admin API. Create it with New.
type API struct{ o Options }

// New returns the API for o.
func New(o Options) (*API, error) {
	if o.Guard == nil || o.Store == nil || o.Refresh == nil || o.Served == nil || o.Reload == nil {
		return nil, errors.New("adminapi: New needs a guard, a store, a refresh, the served dialect and a reload")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &API{o: o}, nil
}

// Route is one endpoint of the API: an http.ServeMux pattern and its
// handler, behind the Guard.
type Route struct {
	Pattern string
	Handler http.Handler
}

// Routes returns the API's endpoints, each behind the Guard.
func (a *API) Routes() []Route {
	r := func(pattern string, h http.HandlerFunc) Route {
		return Route{Pattern: pattern, Handler: a.o.Guard.Wrap(h)}
	}
	routes := []Route{r("GET /admin/{$}", a.index), r("/admin/", a.notFound)}
	for _, e := range a.endpoints() {
		routes = append(routes, r(e.Method+" "+e.Path, e.h))
	}
	return routes
}

// endpoint is one route of the API, as GET /admin/ describes it.
type endpoint struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Does   string `json:"does"`
	h      http.HandlerFunc
}

func (a *API) endpoints() []endpoint {
	return []endpoint{
		{"GET", "/admin/apps", "list the store's apps", a.list},
		{"POST", "/admin/apps", "create an app (id, key and secret are made up when left out)", a.create},
		{"GET", "/admin/apps/{id}", "read an app", a.get},
		{"PUT", "/admin/apps/{id}", "replace an app; keys left out take their defaults", a.replace},
		{"PATCH", "/admin/apps/{id}", "change the keys given, e.g. {\"enabled\": false}", a.patch},
		{"DELETE", "/admin/apps/{id}", "delete an app; its connections are closed with 4003", a.delete},
		{"POST", "/admin/apps/{id}/rotate-secret", "a new secret; the old one verifies for pusher.secret_grace_period", a.rotate},
		{"GET", "/admin/apps/{id}/stats", "live counts of a served app", a.stats},
		{"POST", "/admin/reload", "read the configuration again and apply it, as SIGHUP does", a.reload},
	}
}

// index answers GET /admin/ with the endpoints and the store.
func (a *API) index(w http.ResponseWriter, _ *http.Request) {
	_, writable := a.o.Store.(appstore.Editor)
	write(w, http.StatusOK, map[string]any{
		"store":     a.o.Store.Name(),
		"writable":  writable,
		"endpoints": a.endpoints(),
		"docs":      "docs/apps.md",
	})
}

// apiError is an answer other than 2xx.
type apiError struct {
	status int
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
	// Problems lists every problem when there are several.
	Problems []problem `json:"problems,omitempty"`
}

type problem struct {
	Field string `json:"field,omitempty"`
	Error string `json:"error"`
}

func fail(status int, field, format string, args ...any) *apiError {
	return &apiError{status: status, Error: fmt.Sprintf(format, args...), Field: field}
}

func write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, e *apiError) { write(w, e.status, e) }

func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	writeErr(w, fail(http.StatusNotFound, "", "%s %s is not an admin API endpoint; see docs/apps.md", r.Method, r.URL.Path))
}

// appList is the answer of GET /admin/apps.
type appList struct {
	Store    string             `json:"store"`
	Writable bool               `json:"writable"`
	Apps     []config.PusherApp `json:"apps"`
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	apps, err := a.o.Store.List(r.Context())
	if err != nil {
		writeErr(w, storeFailed(err))
		return
	}
	if apps == nil {
		apps = []config.PusherApp{}
	}
	_, writable := a.o.Store.(appstore.Editor)
	write(w, http.StatusOK, appList{Store: a.o.Store.Name(), Writable: writable, Apps: apps})
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	app, e := a.find(r.Context(), r.PathValue("id"))
	if e != nil {
		writeErr(w, e)
		return
	}
	write(w, http.StatusOK, app)
}

// find returns the app with id from the store.
func (a *API) find(ctx context.Context, id string) (config.PusherApp, *apiError) {
	if ed, ok := a.o.Store.(appstore.Editor); ok {
		app, err := ed.Get(ctx, id)
		if errors.Is(err, appstore.ErrNotFound) {
			return app, noApp(id)
		}
		if err != nil {
			return app, storeFailed(err)
		}
		return app, nil
	}
	apps, err := a.o.Store.List(ctx)
	if err != nil {
		return config.PusherApp{}, storeFailed(err)
	}
	for _, app := range apps {
		if app.ID == id {
			return app, nil
		}
	}
	return config.PusherApp{}, noApp(id)
}

func noApp(id string) *apiError {
	return fail(http.StatusNotFound, "id", "no app has the id %q", id)
}

func storeFailed(err error) *apiError {
	var ce *appstore.ConflictError
	if errors.As(err, &ce) {
		return fail(http.StatusConflict, ce.Field, "%s", ce.Error())
	}
	return fail(http.StatusServiceUnavailable, "", "the app store failed: %v", err)
}

// editor returns the store as an Editor, or the 409 that explains why it
// is not one.
func (a *API) editor() (appstore.Editor, *apiError) {
	if ed, ok := a.o.Store.(appstore.Editor); ok {
		return ed, nil
	}
	return nil, fail(http.StatusConflict, "pusher.app_store.driver",
		"the apps are kept in the config file (pusher.app_store.driver %q), which this API does not write: edit pusher.apps and reload (SIGHUP or POST /admin/reload); with pusher.app_store.driver %q the apps are changed through this API",
		a.o.Store.Name(), config.AppStorePostgres)
}

// decode reads the JSON body into app, over what app holds: only the
// fields the body names change. Unknown fields and wrong types are errors
// naming the field.
func decode(r *http.Request, app *config.PusherApp) *apiError {
	e := decodeJSON(r, app)
	if e != nil && strings.HasSuffix(e.Error, unknownField) {
		e.Error += "; the fields are the keys of a pusher.apps entry (docs/pusher.md#apps)"
	}
	return e
}

const unknownField = "not a field here"

// decodeJSON reads the JSON body, if any, into v.
func decodeJSON(r *http.Request, v any) *apiError {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return fail(http.StatusBadRequest, "", "reading the body: %v", err)
	}
	if len(body) > maxBody {
		return fail(http.StatusRequestEntityTooLarge, "", "the body is larger than %d bytes", maxBody)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		where := te.Field
		if where == "" {
			where = "the body"
		}
		return fail(http.StatusBadRequest, te.Field, "%s: want a JSON %s, got %s", where, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fail(http.StatusBadRequest, "", "the body is not JSON: it ends too early")
	case errors.As(err, &se):
		return fail(http.StatusBadRequest, "", "the body is not JSON: %v (at byte %d)", err, se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fail(http.StatusBadRequest, f, "%s: %s", f, unknownField)
	default:
		return fail(http.StatusBadRequest, "", "the body is not an app: %v", err)
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "struct":
		return "object"
	}
	return goKind
}

// validate checks app as a pusher.apps entry is checked.
func validate(app config.PusherApp) *apiError {
	err := config.ValidatePusherApp(app)
	if err == nil {
		return nil
	}
	var ps []problem
	for _, e := range unjoin(err) {
		p := problem{Error: e.Error()}
		var ce *config.Error
		if errors.As(e, &ce) {
			p.Field = ce.Key
		}
		ps = append(ps, p)
	}
	out := &apiError{status: http.StatusUnprocessableEntity, Error: ps[0].Error, Field: ps[0].Field}
	if len(ps) > 1 {
		out.Problems = ps
	}
	return out
}

// configErrors appends every *config.Error in err's tree to dst.
func configErrors(err error, dst []*config.Error) []*config.Error {
	switch x := err.(type) {
	case nil:
		return dst
	case *config.Error:
		return append(dst, x)
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			dst = configErrors(e, dst)
		}
		return dst
	default:
		return configErrors(errors.Unwrap(err), dst)
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	ed, e := a.editor()
	if e != nil {
		writeErr(w, e)
		return
	}
	app := config.NewPusherApp("", "", "")
	if e := decode(r, &app); e != nil {
		writeErr(w, e)
		return
	}
	if app.ID == "" {
		app.ID = newName()
	}
	if app.Key == "" {
		app.Key = newName()
	}
	if app.Secret == "" {
		app.Secret = rand.Text()
	}
	if e := validate(app); e != nil {
		writeErr(w, e)
		return
	}
	if err := ed.Create(r.Context(), app); err != nil {
		writeErr(w, storeFailed(err))
		return
	}
	a.changed(r, "app created", app.ID)
	write(w, http.StatusCreated, app)
}

// newName returns a random app id or key: 26 characters of base32,
// lower-cased.
func newName() string { return strings.ToLower(rand.Text()) }

func (a *API) replace(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a.update(w, r, func(current config.PusherApp) (config.PusherApp, *apiError) {
		app := config.NewPusherApp(id, current.Key, current.Secret)
		if e := decode(r, &app); e != nil {
			return app, e
		}
		return app, nil
	})
}

func (a *API) patch(w http.ResponseWriter, r *http.Request) {
	a.update(w, r, func(current config.PusherApp) (config.PusherApp, *apiError) {
		if e := decode(r, &current); e != nil {
			return current, e
		}
		return current, nil
	})
}

// update changes the app of the path with change, which returns the app
// to store, and answers with the stored app.
func (a *API) update(w http.ResponseWriter, r *http.Request, change func(config.PusherApp) (config.PusherApp, *apiError)) {
	app, e := a.store(r, change)
	if e != nil {
		writeErr(w, e)
		return
	}
	write(w, http.StatusOK, app)
}

// store changes the app of the path with change and stores the result.
func (a *API) store(r *http.Request, change func(config.PusherApp) (config.PusherApp, *apiError)) (config.PusherApp, *apiError) {
	ed, e := a.editor()
	if e != nil {
		return config.PusherApp{}, e
	}
	id := r.PathValue("id")
	current, e := a.find(r.Context(), id)
	if e != nil {
		return current, e
	}
	app, e := change(current)
	if e != nil {
		return app, e
	}
	if app.ID != id {
		return app, fail(http.StatusBadRequest, "id", "the id %q differs from the path's %q; an app's id does not change: create a new app instead", app.ID, id)
	}
	if e := validate(app); e != nil {
		return app, e
	}
	if err := ed.Update(r.Context(), app); err != nil {
		if errors.Is(err, appstore.ErrNotFound) {
			return app, noApp(id)
		}
		return app, storeFailed(err)
	}
	a.changed(r, "app changed", id)
	return app, nil
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	ed, e := a.editor()
	if e != nil {
		writeErr(w, e)
		return
	}
	id := r.PathValue("id")
	if err := ed.Delete(r.Context(), id); err != nil {
		if errors.Is(err, appstore.ErrNotFound) {
			writeErr(w, noApp(id))
			return
		}
		writeErr(w, storeFailed(err))
		return
	}
	a.changed(r, "app deleted", id)
	write(w, http.StatusOK, map[string]string{"deleted": id})
}

// rotation is the answer of rotate-secret.
type rotation struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	// PreviousSecretValidFor is how long the old secret keeps verifying
	// on each node from when it serves the new one.
	PreviousSecretValidFor config.Duration `json:"previous_secret_valid_for"`
}

func (a *API) rotate(w http.ResponseWriter, r *http.Request) {
	app, e := a.store(r, func(current config.PusherApp) (config.PusherApp, *apiError) {
		var body struct {
			Secret string `json:"secret"`
		}
		if e := decodeJSON(r, &body); e != nil {
			return current, e
		}
		if body.Secret == "" {
			body.Secret = rand.Text()
		}
		if body.Secret == current.Secret {
			return current, fail(http.StatusBadRequest, "secret", "secret: the same as the current one; give a new secret, or none to have one made")
		}
		current.Secret = body.Secret
		return current, nil
	})
	if e != nil {
		writeErr(w, e)
		return
	}
	write(w, http.StatusOK, rotation{ID: app.ID, Secret: app.Secret, PreviousSecretValidFor: config.Duration(a.o.Grace)})
}

func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, ok := a.o.Served.AppStats(r.Context(), id)
	if !ok {
		writeErr(w, fail(http.StatusNotFound, "id", "no app with the id %q is served", id))
		return
	}
	write(w, http.StatusOK, st)
}

func (a *API) reload(w http.ResponseWriter, r *http.Request) {
	ch, err := a.o.Reload(r.Context())
	if err != nil {
		ces := configErrors(err, nil)
		if len(ces) == 0 { // a valid configuration, but the app store could not be read
			writeErr(w, fail(http.StatusServiceUnavailable, "", "the configuration was applied, but the apps could not be read; the apps served stay: %v", err))
			return
		}
		e := &apiError{status: http.StatusUnprocessableEntity, Error: "the configuration was not reloaded; the running one stays: " + err.Error(), Field: ces[0].Key}
		for _, ce := range ces {
			e.Problems = append(e.Problems, problem{Field: ce.Key, Error: ce.Error()})
		}
		writeErr(w, e)
		return
	}
	write(w, http.StatusOK, map[string]any{"reloaded": true, "changes": ch})
}

// changed makes this node serve a change just written, and logs it.
func (a *API) changed(r *http.Request, what, id string) {
	if _, err := a.o.Refresh(r.Context()); err != nil {
		a.o.Log.Warn("admin: "+what+"; this node serves it at the next read of the store", "app_id", id, "err", err)
		return
	}
	a.o.Log.Info("admin: "+what, "app_id", id, "remote", r.RemoteAddr)
}
