package pusher

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// sign returns the hex HMAC-SHA256 of msg with secret, as Pusher signs
// everything: channel auth, sign-in, REST calls and webhooks.
func sign(secret []byte, msg string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// validSignature compares a hex signature with the expected one in
// constant time.
func validSignature(secret []byte, msg, got string) bool {
	return hmac.Equal([]byte(sign(secret, msg)), []byte(strings.ToLower(got)))
}

// checkAuth verifies an "auth" value, "{key}:{hex signature of msg}", as the
// server SDKs produce it for private and presence channels and sign-ins,
// with the app's secret or, within the grace period, its previous one.
func (a *app) checkAuth(auth, msg string) bool {
	key, sig, ok := strings.Cut(auth, ":")
	if !ok || key != a.key {
		return false
	}
	return validSignature(a.secret, msg, sig) || (a.prevValid(time.Now()) && validSignature(a.prevSecret, msg, sig))
}

// channelAuthMessage is what a subscription's auth signs: socket id and
// channel, and for presence channels the channel_data as sent.
func channelAuthMessage(socketID, channel, channelData string) string {
	if channelData == "" {
		return socketID + ":" + channel
	}
	return socketID + ":" + channel + ":" + channelData
}

// userAuthMessage is what a sign-in's auth signs.
func userAuthMessage(socketID, userData string) string {
	return socketID + "::user::" + userData
}
