// Package tokens is the token-broker dialect, compatible with the
// websockets_pro / saiWebSocket broker: a WebSocket endpoint (/ws) where
// each connection holds a token, a text addressing syntax
// "recipients|payload", and a form-encoded HTTP API (/ by default) on the
// same port. docs/token-broker.md is the user's reference.
//
// A client connects with ?RegisterToken=abc1, or bare (it then holds
// "unregistered") and sends "RegisterToken:abc1". "abc1,group/|Hello"
// delivers "Hello" to every connection holding abc1 and every connection
// whose token starts with "group/". Every frame to a client is a JSON string
// and a newline ("Hello" arrives as "\"Hello\"\n"), built once per message
// by [Encode]. [ParseMessage] and [ParseRecipients] are the parsers.
//
// Routing goes through the hub only, so it works across nodes: a connection
// holding token t subscribes to the hub channel "tokens:"+t and to
// "tokens-group:"+g for every prefix g of t that ends in '/' ("a/b/c" is in
// "a/" and "a/b/"). A message to a token or a group is then one hub publish,
// with no scan of the tokens held anywhere, and the recipient list is
// reduced first so that nobody gets a message twice.
//
// Which tokens are registered (what AllowUnregisteredClients "no" admits)
// comes from the config file, from RegisteredTokensUrl (fetched by each
// node, on a goroutine that Shutdown stops) and from the API; the API wins
// over the URL, which wins over the file. The API's tokens are kept in the
// hub's SharedStore so that every node admits them, with a local copy for
// the handshake (shared.go says how the copy stays current).
//
// HTTP push clients (registerHttpClient) are hub subscribers too: each
// message for their token is POSTed to their endpoint by a goroutine that
// exists only while that endpoint has messages waiting.
//
// The HTTP API answers loopback clients only unless an API key is
// configured. The package must not know any other dialect's wire format,
// and it logs no token values.
package tokens
