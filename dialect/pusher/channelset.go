package pusher

// channelSet is the channels one connection is subscribed to, each with the
// connection's presence user id ("" on other channels). Connections hold a
// few channels, so a slice scanned in order is smaller than a map (32 bytes
// for one channel, against about 300) and as fast; idle connections are the
// memory budget.
type channelSet []subscription

type subscription struct {
	name   string
	userID string
}

// get returns the user id stored for name and whether name is in the set.
func (s channelSet) get(name string) (userID string, ok bool) {
	for _, sub := range s {
		if sub.name == name {
			return sub.userID, true
		}
	}
	return "", false
}

// put adds name, or replaces its user id.
func (s *channelSet) put(name, userID string) {
	for i := range *s {
		if (*s)[i].name == name {
			(*s)[i].userID = userID
			return
		}
	}
	*s = append(*s, subscription{name, userID})
}

// remove deletes name and returns its user id.
func (s *channelSet) remove(name string) (userID string, ok bool) {
	for i, sub := range *s {
		if sub.name == name {
			last := len(*s) - 1
			(*s)[i] = (*s)[last]
			(*s)[last] = subscription{}
			*s = (*s)[:last]
			if len(*s) == 0 {
				*s = nil // an idle connection keeps no empty array
			}
			return sub.userID, true
		}
	}
	return "", false
}
