package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// How long one log line may take to reach the engine.
const logTimeout = 30 * time.Second

// provider implements the ResourceProvider service for command:local:Command and
// command:remote:Command.
//
// It tells the engine (Configure) that it does not accept secrets: the engine then sends plain
// values and marks every output secret whose same-named input was secret (annotateSecrets in the
// SDK's resource/plugin/provider_plugin.go), so `stdin` and `connection` stay secret in the state.
type provider struct {
	pulumirpc.UnimplementedResourceProviderServer

	host engineLogger

	// Cancel (or the engine going away) stops every running command.
	root       context.Context
	cancelRoot context.CancelFunc

	// run* are replaceable in tests.
	runLocal  func(ctx context.Context, c *command, script string, logOut, logErr func(string)) (runResult, error)
	runRemote func(ctx context.Context, c *command, script string, logOut, logErr func(string)) (runResult, error)
}

func newProvider(host engineLogger) *provider {
	root, cancel := context.WithCancel(context.Background())
	return &provider{host: host, root: root, cancelRoot: cancel, runLocal: runLocal, runRemote: runRemote}
}

func (p *provider) cancelAll() { p.cancelRoot() }

// opContext is ctx, also cancelled by Cancel and bounded by the resource's custom timeout.
func (p *provider) opContext(ctx context.Context, timeoutSeconds float64) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.root, cancel)
	if timeoutSeconds > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeout(ctx, time.Duration(timeoutSeconds*float64(time.Second)))
		return ctx, func() { cancelT(); stop(); cancel() }
	}
	return ctx, func() { stop(); cancel() }
}

// resourceType and resourceName from the request, falling back to the URN
// (urn:pulumi:stack::project::type::name; a parent chain joins types with "$").
func resourceType(typ, urn string) string {
	if typ != "" {
		return typ
	}
	parts := strings.Split(urn, "::")
	if len(parts) >= 4 {
		t := parts[len(parts)-2]
		if i := strings.LastIndex(t, "$"); i >= 0 {
			t = t[i+1:]
		}
		return t
	}
	return ""
}

func resourceName(name, urn string) string {
	if name != "" {
		return name
	}
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

func checkType(typ string) error {
	if typ != typeLocal && typ != typeRemote {
		return status.Errorf(codes.InvalidArgument, "unknown resource type %q", typ)
	}
	return nil
}

// --- plugin, schema, provider configuration ------------------------------------------------------

func (p *provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: providerVersion}, nil
}

func (p *provider) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	if req.GetSubpackageName() != "" {
		return nil, status.Errorf(codes.NotFound, "no subpackage %q", req.GetSubpackageName())
	}
	return &pulumirpc.GetSchemaResponse{Schema: schemaJSON}, nil
}

func (p *provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{
		AcceptSecrets:   false,
		AcceptResources: false,
		SupportsPreview: true,
	}, nil
}

func (p *provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.cancelAll()
	return &emptypb.Empty{}, nil
}

// --- resources -----------------------------------------------------------------------------------

func containsUnknown(v *structpb.Value) bool {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue == unknownSentinel
	case *structpb.Value_ListValue:
		for _, e := range k.ListValue.GetValues() {
			if containsUnknown(e) {
				return true
			}
		}
	case *structpb.Value_StructValue:
		for _, e := range k.StructValue.GetFields() {
			if containsUnknown(e) {
				return true
			}
		}
	}
	return false
}

// checkFailure turns a parse error ("connection.port: ...") into a failure of its property.
func checkFailure(err error) *pulumirpc.CheckFailure {
	msg := err.Error()
	prop := msg
	if i := strings.IndexAny(prop, ".:["); i >= 0 {
		prop = prop[:i]
	}
	return &pulumirpc.CheckFailure{Property: prop, Reason: msg}
}

func (p *provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	typ := resourceType(req.GetType(), req.GetUrn())
	if err := checkType(typ); err != nil {
		return nil, err
	}
	news := proto.Clone(req.GetNews()).(*structpb.Struct)
	if news == nil || news.Fields == nil {
		news = &structpb.Struct{Fields: map[string]*structpb.Value{}}
	}
	if typ == typeRemote {
		if conn := news.Fields["connection"].GetStructValue(); conn != nil {
			applyConnectionDefaults(conn)
		}
	}
	var failures []*pulumirpc.CheckFailure
	known := !containsUnknown(structpb.NewStructValue(news))
	if known {
		if c, err := parseCommand(typ, news); err != nil {
			failures = append(failures, checkFailure(err))
		} else if len(c.ArchivePaths) > 0 || len(c.AssetPaths) > 0 {
			failures = append(failures, &pulumirpc.CheckFailure{
				Property: "archivePaths",
				Reason:   "archivePaths and assetPaths are not supported by this provider (" + buildMarker + ")",
			})
		}
	} else if typ == typeRemote && isNull(news.Fields["connection"]) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "connection", Reason: "connection: missing required property"})
	}
	return &pulumirpc.CheckResponse{Inputs: news, Failures: failures}, nil
}

func (p *provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds := req.GetOldInputs()
	if len(olds.GetFields()) == 0 {
		olds = inputsOf(req.GetOlds())
	}
	d := diffInputs(olds, req.GetNews())
	if len(d.Changed) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true}, nil
	}
	replace := map[string]bool{}
	for _, k := range d.Replaces {
		replace[k] = true
	}
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for _, k := range d.Changed {
		var kind pulumirpc.PropertyDiff_Kind
		switch d.Kinds[k] {
		case "add":
			kind = pulumirpc.PropertyDiff_ADD
		case "delete":
			kind = pulumirpc.PropertyDiff_DELETE
		default:
			kind = pulumirpc.PropertyDiff_UPDATE
		}
		if replace[k] {
			kind++ // ADD_REPLACE, DELETE_REPLACE, UPDATE_REPLACE follow their plain kinds
		}
		detailed[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_SOME,
		Diffs:           d.Changed,
		Replaces:        d.Replaces,
		DetailedDiff:    detailed,
		HasDetailedDiff: true,
	}, nil
}

// outputs is the state of a command: its inputs plus stdout and stderr.
func outputs(inputs *structpb.Struct, stdout, stderr *structpb.Value) *structpb.Struct {
	out := proto.Clone(inputs).(*structpb.Struct)
	if out == nil || out.Fields == nil {
		out = &structpb.Struct{Fields: map[string]*structpb.Value{}}
	}
	for k := range outputOnly {
		delete(out.Fields, k)
	}
	out.Fields["stdout"] = stdout
	out.Fields["stderr"] = stderr
	return out
}

func unknownValue() *structpb.Value { return structpb.NewStringValue(unknownSentinel) }

func newID(name string) (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return name + "-" + hex.EncodeToString(b), nil
}

// execute runs script for resource urn, logging its output as `logging` asks.
func (p *provider) execute(ctx context.Context, typ, urn, op string, c *command, script string) (runResult, error) {
	name := resourceName("", urn)
	var logOut, logErr func(string)
	if p.host != nil {
		emit := func(line string) {
			lctx, cancel := context.WithTimeout(context.Background(), logTimeout)
			defer cancel()
			_ = p.host.Log(lctx, pulumirpc.LogSeverity_INFO, urn, line)
		}
		if c.logStdout() {
			logOut = emit
		}
		if c.logStderr() {
			logErr = emit
		}
	}
	run := p.runLocal
	if typ == typeRemote {
		run = p.runRemote
	}
	res, err := run(ctx, c, script, logOut, logErr)
	if err != nil {
		return res, failure(name, op, c, err, res)
	}
	return res, nil
}

func (p *provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	typ := resourceType(req.GetType(), req.GetUrn())
	if err := checkType(typ); err != nil {
		return nil, err
	}
	name := resourceName(req.GetName(), req.GetUrn())
	id, err := newID(name)
	if err != nil {
		return nil, err
	}
	props := req.GetProperties()
	if req.GetPreview() {
		return &pulumirpc.CreateResponse{Id: id, Properties: outputs(props, unknownValue(), unknownValue())}, nil
	}
	c, err := parseCommand(typ, props)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %v", name, err)
	}
	c.PrevStdout, c.PrevStderr = "", ""
	var res runResult
	if c.Create != nil {
		ctx, cancel := p.opContext(ctx, req.GetTimeout())
		defer cancel()
		if res, err = p.execute(ctx, typ, req.GetUrn(), "create", c, *c.Create); err != nil {
			return nil, err
		}
	}
	return &pulumirpc.CreateResponse{
		Id:         id,
		Properties: outputs(props, structpb.NewStringValue(res.Stdout), structpb.NewStringValue(res.Stderr)),
	}, nil
}

func (p *provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	typ := resourceType(req.GetType(), req.GetUrn())
	if err := checkType(typ); err != nil {
		return nil, err
	}
	name := resourceName(req.GetName(), req.GetUrn())
	news := req.GetNews()
	oldOut, oldErr := field(req.GetOlds(), "stdout"), field(req.GetOlds(), "stderr")
	if oldOut == nil {
		oldOut = structpb.NewStringValue("")
	}
	if oldErr == nil {
		oldErr = structpb.NewStringValue("")
	}
	if req.GetPreview() {
		return &pulumirpc.UpdateResponse{Properties: outputs(news, oldOut, oldErr)}, nil
	}
	c, err := parseCommand(typ, news)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %v", name, err)
	}
	c.PrevStdout, c.PrevStderr = oldOut.GetStringValue(), oldErr.GetStringValue()
	script, op := c.Update, "update"
	if script == nil {
		script, op = c.Create, "create"
	}
	if script == nil {
		return &pulumirpc.UpdateResponse{Properties: outputs(news, oldOut, oldErr)}, nil
	}
	ctx, cancel := p.opContext(ctx, req.GetTimeout())
	defer cancel()
	res, err := p.execute(ctx, typ, req.GetUrn(), op, c, *script)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{
		Properties: outputs(news, structpb.NewStringValue(res.Stdout), structpb.NewStringValue(res.Stderr)),
	}, nil
}

func (p *provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	typ := resourceType(req.GetType(), req.GetUrn())
	if err := checkType(typ); err != nil {
		return nil, err
	}
	name := resourceName(req.GetName(), req.GetUrn())
	c, err := parseCommand(typ, req.GetProperties())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %v", name, err)
	}
	if c.Delete == nil {
		return &emptypb.Empty{}, nil
	}
	// Outputs of the state are not inputs of a delete: archive/asset globs play no part here.
	c.ArchivePaths, c.AssetPaths = nil, nil
	ctx, cancel := p.opContext(ctx, req.GetTimeout())
	defer cancel()
	if _, err := p.execute(ctx, typ, req.GetUrn(), "delete", c, *c.Delete); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Invoke serves no functions: local.run/runOutput are not implemented.
func (p *provider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	return nil, status.Errorf(codes.Unimplemented,
		"function %q is not implemented by %s (only the Command resources are)", req.GetTok(), buildMarker)
}
