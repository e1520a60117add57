// Command pulumi-resource-command is a Pulumi resource provider plugin for the resources
// command:local:Command and command:remote:Command, wire-compatible with what the
// @pulumi/command 1.2.1 Node SDK sends.
//
// It exists because the Go module proxy reachable from kubevirt-lab's build machines refuses
// github.com/pulumi/pulumi-command/provider, so the official plugin cannot be built there. It
// implements the subset of the official provider's surface that kubevirt-lab uses; see README.md.
//
// The plugin protocol: the engine starts the plugin with the engine's gRPC address as the only
// positional argument (plus optional logging/tracing flags), the plugin serves the
// ResourceProvider gRPC service on a free local port and prints that port on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const (
	providerName    = "command"
	providerVersion = "1.2.1"
	// Identifies this implementation (tools/setup-engine.sh looks for it in an installed plugin).
	buildMarker = "kubevirt-lab tools/command-provider"
	// gRPC message size limit, as the engine's own (property bags can be large).
	maxRPCMessageSize = 1024 * 1024 * 400
	// How often the plugin checks that the engine is still there.
	engineHealthInterval = 5 * time.Minute
)

// The engine reads the port from stdout: gRPC must never log there.
func init() { grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, os.Stderr)) }

// engineLogger sends diagnostics to the Pulumi engine (shown by the CLI under the resource).
type engineLogger interface {
	Log(ctx context.Context, sev pulumirpc.LogSeverity, urn, msg string) error
}

// hostClient is the plugin's connection to the engine's Engine service.
type hostClient struct {
	conn   *grpc.ClientConn
	client pulumirpc.EngineClient
}

func newHostClient(addr string) (*hostClient, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRPCMessageSize)))
	if err != nil {
		return nil, err
	}
	return &hostClient{conn: conn, client: pulumirpc.NewEngineClient(conn)}, nil
}

func (h *hostClient) Log(ctx context.Context, sev pulumirpc.LogSeverity, urn, msg string) error {
	_, err := h.client.Log(ctx, &pulumirpc.LogRequest{
		Severity: sev,
		Message:  strings.ToValidUTF8(msg, "\uFFFD"),
		Urn:      urn,
	})
	return err
}

func main() {
	if err := serve(); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-%s: %v\n", providerName, err)
		os.Exit(1)
	}
}

func serve() error {
	flags := flag.NewFlagSet("pulumi-resource-"+providerName, flag.ContinueOnError)
	// Flags the engine may pass to every plugin; accepted and ignored.
	flags.Bool("logtostderr", false, "log to stderr (ignored)")
	flags.Bool("logflow", false, "flow logging settings to child processes (ignored)")
	flags.Int("v", 0, "log verbosity (ignored)")
	flags.String("tracing", "", "tracing endpoint (ignored)")
	showVersion := flags.Bool("version", false, "print the version and exit")
	if err := flags.Parse(os.Args[1:]); err != nil {
		return err
	}
	if *showVersion {
		fmt.Printf("%s (%s)\n", providerVersion, buildMarker)
		return nil
	}
	args := flags.Args()
	if len(args) != 1 {
		return fmt.Errorf("expected the engine address as the only argument, got %d arguments", len(args))
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()

	host, err := newHostClient(args[0])
	if err != nil {
		return fmt.Errorf("could not connect to the engine at %s: %w", args[0], err)
	}
	defer host.conn.Close()
	go watchEngine(ctx, host.conn, cancel)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("could not listen on a local TCP port: %w", err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxRPCMessageSize))
	prov := newProvider(host)
	pulumirpc.RegisterResourceProviderServer(srv, prov)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	hs.SetServingStatus(pulumirpc.ResourceProvider_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	go func() {
		<-ctx.Done()
		prov.cancelAll()
		srv.GracefulStop()
	}()
	// The plugin protocol: the port on stdout, then serve until stopped.
	fmt.Printf("%d\n", lis.Addr().(*net.TCPAddr).Port)
	if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// watchEngine cancels the plugin once the engine no longer answers health checks (as plugins
// built with the Pulumi SDK do); an engine without the health service counts as alive.
func watchEngine(ctx context.Context, conn *grpc.ClientConn, cancel context.CancelFunc) {
	client := healthpb.NewHealthClient(conn)
	t := time.NewTicker(engineHealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cctx, ccancel := context.WithTimeout(ctx, time.Minute)
			_, err := client.Check(cctx, &healthpb.HealthCheckRequest{})
			ccancel()
			if err != nil && status.Code(err) != codes.Unimplemented && ctx.Err() == nil {
				cancel()
				return
			}
		}
	}
}
