package remote

import "context"

// Trust is the safe way to trust a host seen for the first time. It
// connects to t as Dial does, with Options.AcceptNew, so that a host key
// not yet in known_hosts is recorded in the first file (a changed key is
// still refused, with the HostKeyError saying so), and returns the host
// key of every hop it reached, jump hosts first, each saying whether it
// was just recorded. It logs in, so a login that fails is its error, but
// it opens no session: nothing runs on the host. The keys reached are
// returned with any error; an added key is not also sent to Options.Logf.
func Trust(ctx context.Context, t Target, o Options) ([]HostKey, error) {
	log := &hostKeyLog{}
	o.AcceptNew, o.seen = true, log
	c, err := Dial(ctx, t, o)
	if err == nil {
		err = c.Close()
	}
	return log.list(), err
}
