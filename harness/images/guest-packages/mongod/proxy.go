// The translator between a client and FerretDB, one FerretDB connection per client connection.
// Messages are read and written with FerretDB's own wire library (github.com/FerretDB/wire, the
// version FerretDB v1.24.2 is built with), BSON with its wirebson.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/FerretDB/wire"
	"github.com/FerretDB/wire/wirebson"
	"github.com/xdg-go/scram"
)

type server struct {
	socket string
	key    string
	auth   bool // security.authorization enabled

	mu       sync.Mutex
	sessions map[*session]struct{}
	nextConn atomic.Int64
	open     atomic.Int64

	order writeOrder
}

// writeOrder: a command waits for the writes that reached mongod before it and are still at work
// in FerretDB, so that what a client wrote on one connection is what it reads right after on
// another (see isWrite).
type writeOrder struct {
	mu       sync.Mutex
	cond     *sync.Cond
	next     uint64
	inflight map[uint64]struct{}
}

// isWrite: the commands that change documents.
func isWrite(cmd string) bool {
	switch cmd {
	case "insert", "update", "delete", "findAndModify", "findandmodify":
		return true
	}
	return false
}

// arrive: a write that reached mongod (its ticket), or a command that must wait for the writes
// before it (after: the last ticket handed out).
func (o *writeOrder) arrive(write bool) (ticket uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cond == nil {
		o.cond = sync.NewCond(&o.mu)
		o.inflight = map[uint64]struct{}{}
	}
	if !write {
		return o.next
	}
	o.next++
	o.inflight[o.next] = struct{}{}
	return o.next
}

func (o *writeOrder) done(ticket uint64) {
	o.mu.Lock()
	delete(o.inflight, ticket)
	o.mu.Unlock()
	o.cond.Broadcast()
}

// wait until no write with a ticket up to after is at work (at most writeWait).
func (o *writeOrder) wait(after uint64) {
	deadline := time.Now().Add(writeWait)
	timer := time.AfterFunc(writeWait, func() { o.cond.Broadcast() })
	defer timer.Stop()
	o.mu.Lock()
	defer o.mu.Unlock()
	for time.Now().Before(deadline) {
		pending := false
		for t := range o.inflight {
			if t <= after {
				pending = true
				break
			}
		}
		if !pending {
			return
		}
		o.cond.Wait()
	}
}

const writeWait = 10 * time.Second

// readGrace: how long a command other than a write lets writes that arrived with it go first.
const readGrace = 2 * time.Millisecond

// requestIDs of the messages mongod itself sends (its logins, the user count).
var requestIDs atomic.Int32

// waitReady: FerretDB answers on its socket and mongod's own user logs in (bounded).
func (s *server) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("FerretDB exited: %v", err)
		default:
		}
		b, err := s.dialBackend()
		if err == nil {
			err = b.login(internalUser, s.key)
			b.close()
			if err == nil {
				return nil
			}
			// the socket answers: a failed login is final (the data directory's user is another)
			return fmt.Errorf("mongod's own user %s cannot log in to FerretDB (%v): was %s lost?", internalUser, err, keyFile)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s after %v: %v", s.socket, startTimeout, last)
}

func (s *server) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		id := s.nextConn.Add(1)
		n := s.open.Add(1)
		log.printf("I", "NETWORK", "listener", "connection accepted from %s #%d (%d connection%s now open)", c.RemoteAddr(), id, n, plural(n))
		go s.serveConn(c, id)
	}
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (s *server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		ss.client.Close()
		ss.backend.close()
	}
}

// backend: a connection to FerretDB.
type backend struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func (s *server) dialBackend() (*backend, error) {
	c, err := net.DialTimeout("unix", s.socket, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &backend{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}, nil
}

func (b *backend) close() { b.c.Close() }

// roundTrip sends one message under requestID and reads FerretDB's answer to it.
func (b *backend) roundTrip(requestID int32, body wire.MsgBody) (wire.MsgBody, error) {
	if err := writeMessage(b.w, requestID, 0, body); err != nil {
		return nil, err
	}
	for {
		h, reply, err := wire.ReadMessage(b.r)
		if err != nil {
			return nil, err
		}
		if h.ResponseTo == requestID {
			return reply, nil
		}
	}
}

// command: one command of mongod's own (OP_MSG), its reply document.
func (b *backend) command(doc *wirebson.Document) (*wirebson.Document, error) {
	msg, err := wire.NewOpMsg(doc)
	if err != nil {
		return nil, err
	}
	reply, err := b.roundTrip(requestIDs.Add(1), msg)
	if err != nil {
		return nil, err
	}
	m, ok := reply.(*wire.OpMsg)
	if !ok {
		return nil, fmt.Errorf("reply %T", reply)
	}
	raw, err := m.RawDocument()
	if err != nil {
		return nil, err
	}
	return raw.Decode()
}

// login: SCRAM-SHA-256 as user on admin (as FerretDB's wireclient.Conn.Login does).
func (b *backend) login(user, password string) error {
	client, err := scram.SHA256.NewClient(user, password, "")
	if err != nil {
		return err
	}
	conv := client.NewConversation()
	payload, err := conv.Step("")
	if err != nil {
		return err
	}
	cmd := wirebson.MustDocument("saslStart", int32(1), "mechanism", "SCRAM-SHA-256",
		"payload", wirebson.Binary{B: []byte(payload)}, "$db", "admin")
	for range 3 {
		res, err := b.command(cmd)
		if err != nil {
			return err
		}
		if res.Get("ok") != 1.0 {
			return fmt.Errorf("%s: %v", cmd.Command(), res.Get("errmsg"))
		}
		if done, _ := res.Get("done").(bool); done {
			if !conv.Valid() {
				return errors.New("the server's signature is not valid")
			}
			return nil
		}
		bin, _ := res.Get("payload").(wirebson.Binary)
		if payload, err = conv.Step(string(bin.B)); err != nil {
			return err
		}
		cmd = wirebson.MustDocument("saslContinue", int32(1), "conversationId", res.Get("conversationId"),
			"payload", wirebson.Binary{B: []byte(payload)}, "$db", "admin")
	}
	return errors.New("too many SCRAM steps")
}

// usersOtherThanOwn: how many users exist besides mongod's own.
func (b *backend) usersOtherThanOwn() (int, error) {
	res, err := b.command(wirebson.MustDocument("usersInfo", wirebson.MustDocument("forAllDBs", true), "$db", "admin"))
	if err != nil {
		return 0, err
	}
	raw, ok := res.Get("users").(wirebson.RawArray)
	if !ok {
		return 0, fmt.Errorf("usersInfo: %v", res.Get("errmsg"))
	}
	users, err := raw.Decode()
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range users.Len() {
		if u, ok := users.Get(i).(wirebson.RawDocument); ok {
			if d, err := u.Decode(); err == nil && d.Get("user") == internalUser && d.Get("db") == "admin" {
				continue
			}
		}
		n++
	}
	return n, nil
}

func writeMessage(w *bufio.Writer, requestID, responseTo int32, body wire.MsgBody) error {
	b, err := body.MarshalBinary()
	if err != nil {
		return err
	}
	var op wire.OpCode
	switch body.(type) {
	case *wire.OpMsg:
		op = wire.OpCodeMsg
	case *wire.OpQuery:
		op = wire.OpCodeQuery
	case *wire.OpReply:
		op = wire.OpCodeReply
	default:
		return fmt.Errorf("cannot write %T", body)
	}
	h := &wire.MsgHeader{MessageLength: int32(wire.MsgHeaderLen + len(b)), RequestID: requestID, ResponseTo: responseTo, OpCode: op}
	if err := wire.WriteMessage(w, h, body); err != nil {
		return err
	}
	return w.Flush()
}

// session: one client connection and its FerretDB connection.
type session struct {
	srv     *server
	id      int64
	ctx     string // "conn<id>", the log's context
	client  net.Conn
	backend *backend
	// exempt: a connection that has not logged in may do everything (authorization disabled, or
	// MongoDB's localhost exception); it is then logged in as mongod's own user.
	exempt bool
	// user: who the connection is logged in as ("" none, or mongod's own user).
	user string
}

func (s *server) serveConn(c net.Conn, id int64) {
	ss := &session{srv: s, id: id, ctx: fmt.Sprintf("conn%d", id), client: c}
	defer func() {
		c.Close()
		if ss.backend != nil {
			ss.backend.close()
		}
		s.mu.Lock()
		delete(s.sessions, ss)
		s.mu.Unlock()
		n := s.open.Add(-1)
		log.printf("I", "-", ss.ctx, "end connection %s (%d connection%s now open)", c.RemoteAddr(), n, plural(n))
	}()
	b, err := s.dialBackend()
	if err != nil {
		log.printf("E", "NETWORK", ss.ctx, "FerretDB does not answer: %v", err)
		return
	}
	ss.backend = b
	s.mu.Lock()
	if s.sessions == nil {
		s.sessions = map[*session]struct{}{}
	}
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	ss.exempt = !s.auth || ss.localhostException()
	if ss.exempt {
		if err := ss.loginOwn(); err != nil {
			log.printf("E", "ACCESS", ss.ctx, "mongod's own login to FerretDB failed: %v", err)
			return
		}
	}
	if err := ss.serve(); err != nil && !errors.Is(err, wire.ErrZeroRead) && !errors.Is(err, net.ErrClosed) &&
		!strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "connection reset") {
		log.printf("I", "NETWORK", ss.ctx, "connection ended: %v", err)
	}
}

// localhostException: MongoDB's, with authorization enabled: a client on the loopback address
// while no user exists.
func (ss *session) localhostException() bool {
	addr, ok := ss.client.RemoteAddr().(*net.TCPAddr)
	if !ok || !addr.IP.IsLoopback() {
		return false
	}
	b, err := ss.srv.dialBackend()
	if err != nil {
		return false
	}
	defer b.close()
	if err := b.login(internalUser, ss.srv.key); err != nil {
		return false
	}
	n, err := b.usersOtherThanOwn()
	return err == nil && n == 0
}

func (ss *session) loginOwn() error {
	if err := ss.backend.login(internalUser, ss.srv.key); err != nil {
		return err
	}
	ss.user = internalUser
	return nil
}

func (ss *session) serve() error {
	cr, cw := bufio.NewReader(ss.client), bufio.NewWriter(ss.client)
	for {
		h, body, err := wire.ReadMessage(cr)
		if err != nil {
			return err
		}
		switch m := body.(type) {
		case *wire.OpQuery:
			err = ss.query(cw, h, m)
		case *wire.OpMsg:
			err = ss.msg(cw, h, m)
		default:
			err = fmt.Errorf("unexpected %s from the client", h.OpCode)
		}
		if err != nil {
			return err
		}
	}
}

// query: OP_QUERY. A command (`<db>.$cmd`) goes to FerretDB as OP_MSG; its reply comes back as
// OP_REPLY. Anything else (a legacy query of a collection) passes as it is: FerretDB answers that
// OP_QUERY is no longer supported, as it would.
func (ss *session) query(cw *bufio.Writer, h *wire.MsgHeader, q *wire.OpQuery) error {
	db, isCmd := strings.CutSuffix(q.FullCollectionName, ".$cmd")
	if !isCmd {
		reply, err := ss.backend.roundTrip(h.RequestID, q)
		if err != nil {
			return err
		}
		return writeMessage(cw, requestIDs.Add(1), h.RequestID, reply)
	}
	doc := q.Query()
	if doc == nil {
		return errors.New("OP_QUERY without a query")
	}
	// {$query: {<command>}, $readPreference: ...}: what a driver sends for a read preference
	// (mongos's form). The command is the inner document; a single server has no read preference.
	if name := doc.Command(); name == "$query" || name == "query" {
		if inner, ok := doc.Get(name).(wirebson.RawDocument); ok {
			d, err := inner.Decode()
			if err != nil {
				return err
			}
			doc = d
		}
	}
	cmd := doc.Command()
	defer ss.inOrder(cmd)()
	if _, err := ss.rewrite(cmd, doc); err != nil {
		return err
	}
	doc.Remove("$db")
	if err := doc.Add("$db", db); err != nil {
		return err
	}
	msg, err := wire.NewOpMsg(doc)
	if err != nil {
		return err
	}
	reply, err := ss.backend.roundTrip(h.RequestID, msg)
	if err != nil {
		return err
	}
	m, ok := reply.(*wire.OpMsg)
	if !ok {
		return fmt.Errorf("FerretDB answered %s with %T", cmd, reply)
	}
	raw, err := m.RawDocument()
	if err != nil {
		return err
	}
	if err := ss.after(cmd, db, doc, raw); err != nil {
		return err
	}
	r, err := wire.NewOpReply(raw)
	if err != nil {
		return err
	}
	return writeMessage(cw, requestIDs.Add(1), h.RequestID, r)
}

// msg: OP_MSG passes through (its body changed where rewrite says).
func (ss *session) msg(cw *bufio.Writer, h *wire.MsgHeader, m *wire.OpMsg) error {
	var cmd, db string
	var doc *wirebson.Document
	if raw, err := m.RawDocument(); err == nil {
		if doc, err = raw.Decode(); err == nil {
			cmd = doc.Command()
			db, _ = doc.Get("$db").(string)
			defer ss.inOrder(cmd)()
			changed, err := ss.rewrite(cmd, doc)
			if err != nil {
				return err
			}
			if changed {
				flags := m.Flags
				if m, err = wire.NewOpMsg(doc); err != nil {
					return err
				}
				m.Flags = flags &^ wire.OpMsgFlags(wire.OpMsgChecksumPresent)
			}
		}
	}
	if m.Flags.FlagSet(wire.OpMsgMoreToCome) {
		// no answer is wanted (an unacknowledged write)
		return writeMessage(ss.backend.w, h.RequestID, 0, m)
	}
	reply, err := ss.backend.roundTrip(h.RequestID, m)
	if err != nil {
		return err
	}
	if rm, ok := reply.(*wire.OpMsg); ok && cmd != "" {
		if raw, err := rm.RawDocument(); err == nil {
			if err := ss.after(cmd, db, doc, raw); err != nil {
				return err
			}
		}
	}
	return writeMessage(cw, requestIDs.Add(1), h.RequestID, reply)
}

// inOrder: a write is counted at work until the returned function is called; any other command
// first waits for the writes that reached mongod before it.
func (ss *session) inOrder(cmd string) func() {
	o := &ss.srv.order
	if isWrite(cmd) {
		t := o.arrive(true)
		return func() { o.done(t) }
	}
	// a write that reached mongod at the same time (its bytes read by another connection's
	// goroutine a moment later) goes first
	time.Sleep(readGrace)
	o.wait(o.arrive(false))
	return func() {}
}

// rewrite: createUser without its roles (FerretDB v1.24 refuses any; it has no authorization).
// It says whether it changed doc.
func (ss *session) rewrite(cmd string, doc *wirebson.Document) (bool, error) {
	if cmd != "createUser" {
		return false, nil
	}
	roles, ok := doc.Get("roles").(wirebson.RawArray)
	if !ok {
		return false, nil
	}
	arr, err := roles.Decode()
	if err != nil || arr.Len() == 0 {
		return false, nil
	}
	var asked []string
	for i := range arr.Len() {
		switch r := arr.Get(i).(type) {
		case string:
			asked = append(asked, r)
		case wirebson.RawDocument:
			if d, err := r.Decode(); err == nil {
				asked = append(asked, fmt.Sprintf("%v@%v", d.Get("role"), d.Get("db")))
			}
		}
	}
	user, _ := doc.Get("createUser").(string)
	db, _ := doc.Get("$db").(string)
	log.printf("W", "ACCESS", ss.ctx, "createUser %s@%s: roles %s not kept (FerretDB v1.24 keeps no roles: every user that logs in may do everything)",
		user, db, strings.Join(asked, ", "))
	if err := doc.Replace("roles", wirebson.MakeArray(0)); err != nil {
		return false, err
	}
	return true, nil
}

// after: what a reply means for the connection's login. A SCRAM conversation that ends logs the
// connection in as its user; one that fails, or a logout, leaves it logged in as nobody, which a
// connection that may do everything without a login (exempt) is again as mongod's own user.
func (ss *session) after(cmd, db string, req *wirebson.Document, reply wirebson.RawDocument) error {
	switch cmd {
	case "saslStart", "saslContinue", "logout":
	default:
		return nil
	}
	res, err := reply.Decode()
	if err != nil {
		return err
	}
	ok := res.Get("ok") == 1.0
	done, _ := res.Get("done").(bool)
	switch {
	case cmd == "logout":
	case ok && !done:
		if cmd == "saslStart" {
			ss.user = "(" + scramUser(req) + ")" // in the middle of a conversation
		}
		return nil
	case ok:
		user := strings.Trim(ss.user, "()")
		log.printf("I", "ACCESS", ss.ctx, "Successfully authenticated as principal %s on %s", user, db)
		ss.user = user
		return nil
	default:
		user := strings.Trim(ss.user, "()")
		if cmd == "saslStart" {
			user = scramUser(req)
		}
		log.printf("I", "ACCESS", ss.ctx, "SASL authentication failed for %s on %s from client %s ; %v", user, db, ss.client.RemoteAddr(), res.Get("errmsg"))
	}
	ss.user = ""
	if ss.exempt {
		return ss.loginOwn()
	}
	return nil
}

// scramUser: the user of a saslStart's SCRAM client-first message ("n,,n=<user>,r=<nonce>").
func scramUser(req *wirebson.Document) string {
	if req == nil {
		return "?"
	}
	bin, _ := req.Get("payload").(wirebson.Binary)
	for _, part := range strings.Split(string(bin.B), ",") {
		if u, ok := strings.CutPrefix(part, "n="); ok {
			return strings.NewReplacer("=2C", ",", "=3D", "=").Replace(u)
		}
	}
	return "?"
}
