package main

import (
	"fmt"
	"math"
	"sort"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// The engine's marker for a value not known during preview.
const unknownSentinel = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

const (
	typeLocal  = "command:local:Command"
	typeRemote = "command:remote:Command"
)

// Properties that the provider computes: never inputs.
var outputOnly = map[string]bool{"stdout": true, "stderr": true, "archive": true, "assets": true}

// Connection defaults, as the SDK's connectionArgsProvideDefaults applies them.
const (
	defaultPort           = 22
	defaultUser           = "root"
	defaultDialErrorLimit = 10
	defaultPerDialTimeout = 15
)

// connection holds the SSH connection settings of a remote command (or of its proxy).
type connection struct {
	Host               string
	Port               int
	User               string
	PrivateKey         string
	PrivateKeyPassword string
	Password           string
	AgentSocketPath    string
	HostKey            string
	DialErrorLimit     int
	PerDialTimeout     int // seconds; 0 = no maximum
	Proxy              *connection
}

func (c *connection) address() string {
	return joinHostPort(c.Host, c.Port)
}

// command holds the inputs that drive a run, parsed from the wire properties.
type command struct {
	Create, Update, Delete *string
	Stdin                  string
	Environment            map[string]string
	Dir                    string
	Interpreter            []string
	Logging                string // stdout, stderr, stdoutAndStderr or none
	AddPreviousOutputInEnv bool
	ArchivePaths           []string
	AssetPaths             []string
	Connection             *connection
	// The outputs of the previous create/update (for PULUMI_COMMAND_STDOUT/STDERR).
	PrevStdout, PrevStderr string
}

func (c *command) logStdout() bool { return c.Logging == "stdout" || c.Logging == "stdoutAndStderr" }
func (c *command) logStderr() bool { return c.Logging == "stderr" || c.Logging == "stdoutAndStderr" }

func isNull(v *structpb.Value) bool {
	if v == nil {
		return true
	}
	_, ok := v.Kind.(*structpb.Value_NullValue)
	return ok
}

func isUnknown(v *structpb.Value) bool {
	return v != nil && v.GetStringValue() == unknownSentinel
}

func field(s *structpb.Struct, key string) *structpb.Value {
	if s == nil {
		return nil
	}
	v := s.GetFields()[key]
	if isNull(v) {
		return nil
	}
	return v
}

func getString(s *structpb.Struct, key string) (string, bool, error) {
	v := field(s, key)
	if v == nil {
		return "", false, nil
	}
	sv, ok := v.Kind.(*structpb.Value_StringValue)
	if !ok {
		return "", false, fmt.Errorf("%s: expected a string", key)
	}
	return sv.StringValue, true, nil
}

func getStringPtr(s *structpb.Struct, key string) (*string, error) {
	str, ok, err := getString(s, key)
	if err != nil || !ok {
		return nil, err
	}
	return &str, nil
}

func getInt(s *structpb.Struct, key string, def int) (int, error) {
	v := field(s, key)
	if v == nil {
		return def, nil
	}
	nv, ok := v.Kind.(*structpb.Value_NumberValue)
	if !ok {
		return 0, fmt.Errorf("%s: expected a number", key)
	}
	n := nv.NumberValue
	if n != math.Trunc(n) || math.Abs(n) > 1e9 {
		return 0, fmt.Errorf("%s: expected an integer, got %v", key, n)
	}
	return int(n), nil
}

func getBool(s *structpb.Struct, key string, def bool) (bool, error) {
	v := field(s, key)
	if v == nil {
		return def, nil
	}
	bv, ok := v.Kind.(*structpb.Value_BoolValue)
	if !ok {
		return false, fmt.Errorf("%s: expected a boolean", key)
	}
	return bv.BoolValue, nil
}

func getStringList(s *structpb.Struct, key string) ([]string, error) {
	v := field(s, key)
	if v == nil {
		return nil, nil
	}
	lv, ok := v.Kind.(*structpb.Value_ListValue)
	if !ok {
		return nil, fmt.Errorf("%s: expected a list of strings", key)
	}
	out := make([]string, 0, len(lv.ListValue.GetValues()))
	for i, e := range lv.ListValue.GetValues() {
		sv, ok := e.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: expected a string", key, i)
		}
		out = append(out, sv.StringValue)
	}
	return out, nil
}

func getStringMap(s *structpb.Struct, key string) (map[string]string, error) {
	v := field(s, key)
	if v == nil {
		return nil, nil
	}
	sv, ok := v.Kind.(*structpb.Value_StructValue)
	if !ok {
		return nil, fmt.Errorf("%s: expected a map of strings", key)
	}
	out := map[string]string{}
	for k, e := range sv.StructValue.GetFields() {
		if isNull(e) {
			continue
		}
		str, ok := e.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, fmt.Errorf("%s.%s: expected a string", key, k)
		}
		out[k] = str.StringValue
	}
	return out, nil
}

func getStruct(s *structpb.Struct, key string) (*structpb.Struct, error) {
	v := field(s, key)
	if v == nil {
		return nil, nil
	}
	sv, ok := v.Kind.(*structpb.Value_StructValue)
	if !ok {
		return nil, fmt.Errorf("%s: expected an object", key)
	}
	return sv.StructValue, nil
}

var validLogging = map[string]bool{"stdout": true, "stderr": true, "stdoutAndStderr": true, "none": true}

// parseCommand reads the inputs of a resource of type typ from its properties (inputs or state).
func parseCommand(typ string, props *structpb.Struct) (*command, error) {
	var c command
	var err error
	if c.Create, err = getStringPtr(props, "create"); err != nil {
		return nil, err
	}
	if c.Update, err = getStringPtr(props, "update"); err != nil {
		return nil, err
	}
	if c.Delete, err = getStringPtr(props, "delete"); err != nil {
		return nil, err
	}
	if c.Stdin, _, err = getString(props, "stdin"); err != nil {
		return nil, err
	}
	if c.Environment, err = getStringMap(props, "environment"); err != nil {
		return nil, err
	}
	logging, ok, err := getString(props, "logging")
	if err != nil {
		return nil, err
	}
	if !ok {
		logging = "stdoutAndStderr"
	}
	if !validLogging[logging] {
		return nil, fmt.Errorf("logging: %q is not one of stdout, stderr, stdoutAndStderr, none", logging)
	}
	c.Logging = logging
	if c.AddPreviousOutputInEnv, err = getBool(props, "addPreviousOutputInEnv", true); err != nil {
		return nil, err
	}
	if c.PrevStdout, _, err = getString(props, "stdout"); err != nil {
		return nil, err
	}
	if c.PrevStderr, _, err = getString(props, "stderr"); err != nil {
		return nil, err
	}
	switch typ {
	case typeLocal:
		if c.Dir, _, err = getString(props, "dir"); err != nil {
			return nil, err
		}
		if c.Interpreter, err = getStringList(props, "interpreter"); err != nil {
			return nil, err
		}
		if c.ArchivePaths, err = getStringList(props, "archivePaths"); err != nil {
			return nil, err
		}
		if c.AssetPaths, err = getStringList(props, "assetPaths"); err != nil {
			return nil, err
		}
	case typeRemote:
		conn, err := getStruct(props, "connection")
		if err != nil {
			return nil, err
		}
		if conn == nil {
			return nil, fmt.Errorf("connection: missing required property")
		}
		if c.Connection, err = parseConnection(conn, "connection"); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown resource type %q", typ)
	}
	return &c, nil
}

func parseConnection(s *structpb.Struct, path string) (*connection, error) {
	var c connection
	var err error
	wrap := func(err error) error { return fmt.Errorf("%s.%w", path, err) }
	if c.Host, _, err = getString(s, "host"); err != nil {
		return nil, wrap(err)
	}
	if c.Host == "" {
		return nil, fmt.Errorf("%s.host: missing required property", path)
	}
	if c.Port, err = getInt(s, "port", defaultPort); err != nil {
		return nil, wrap(err)
	}
	if c.Port < 1 || c.Port > 65535 {
		return nil, fmt.Errorf("%s.port: %d is not a TCP port", path, c.Port)
	}
	var ok bool
	if c.User, ok, err = getString(s, "user"); err != nil {
		return nil, wrap(err)
	} else if !ok {
		c.User = defaultUser
	}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"privateKey", &c.PrivateKey}, {"privateKeyPassword", &c.PrivateKeyPassword}, {"password", &c.Password},
		{"agentSocketPath", &c.AgentSocketPath}, {"hostKey", &c.HostKey},
	} {
		if *f.dst, _, err = getString(s, f.key); err != nil {
			return nil, wrap(err)
		}
	}
	if c.DialErrorLimit, err = getInt(s, "dialErrorLimit", defaultDialErrorLimit); err != nil {
		return nil, wrap(err)
	}
	if c.PerDialTimeout, err = getInt(s, "perDialTimeout", defaultPerDialTimeout); err != nil {
		return nil, wrap(err)
	}
	if c.PerDialTimeout < 0 {
		return nil, fmt.Errorf("%s.perDialTimeout: must not be negative", path)
	}
	proxy, err := getStruct(s, "proxy")
	if err != nil {
		return nil, wrap(err)
	}
	if proxy != nil {
		if c.Proxy, err = parseConnection(proxy, path+".proxy"); err != nil {
			return nil, err
		}
		if c.Proxy.Proxy != nil {
			return nil, fmt.Errorf("%s.proxy.proxy: nested proxies are not supported", path)
		}
	}
	return &c, nil
}

// applyConnectionDefaults sets port, user, dialErrorLimit and perDialTimeout where absent,
// in the connection and its proxy, as the SDK does (in place). Unknown values are left alone.
func applyConnectionDefaults(conn *structpb.Struct) {
	if conn == nil {
		return
	}
	if conn.Fields == nil {
		conn.Fields = map[string]*structpb.Value{}
	}
	setDefault := func(key string, v *structpb.Value) {
		if isNull(conn.Fields[key]) {
			conn.Fields[key] = v
		}
	}
	setDefault("port", structpb.NewNumberValue(defaultPort))
	setDefault("user", structpb.NewStringValue(defaultUser))
	setDefault("dialErrorLimit", structpb.NewNumberValue(defaultDialErrorLimit))
	setDefault("perDialTimeout", structpb.NewNumberValue(defaultPerDialTimeout))
	if p := conn.Fields["proxy"]; p != nil {
		if ps := p.GetStructValue(); ps != nil {
			applyConnectionDefaults(ps)
		}
	}
}

// inputsOf returns the input properties of a state (all but the computed outputs).
func inputsOf(state *structpb.Struct) *structpb.Struct {
	out := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range state.GetFields() {
		if !outputOnly[k] {
			out.Fields[k] = v
		}
	}
	return out
}

// diffResult is the outcome of comparing old and new inputs.
type diffResult struct {
	Changed  []string // sorted keys whose value differs
	Replaces []string // the subset that forces a replacement
	Kinds    map[string]string
}

// diffInputs compares old and new inputs: a changed `triggers` replaces the resource,
// any other changed input is an in-place update. A null and an absent value are the same.
func diffInputs(olds, news *structpb.Struct) diffResult {
	keys := map[string]bool{}
	for k := range olds.GetFields() {
		keys[k] = true
	}
	for k := range news.GetFields() {
		keys[k] = true
	}
	res := diffResult{Kinds: map[string]string{}}
	for k := range keys {
		if outputOnly[k] {
			continue
		}
		o, n := field(olds, k), field(news, k)
		var kind string
		switch {
		case o == nil && n == nil:
			continue
		case o == nil:
			kind = "add"
		case n == nil:
			kind = "delete"
		case isUnknown(n) || !proto.Equal(o, n):
			kind = "update"
		default:
			continue
		}
		res.Changed = append(res.Changed, k)
		res.Kinds[k] = kind
		if k == "triggers" {
			res.Replaces = append(res.Replaces, k)
		}
	}
	sort.Strings(res.Changed)
	sort.Strings(res.Replaces)
	return res
}
