// health_client: grpc-go's standard health client (grpc.health.v1.Health), used as an
// interop peer for puregrpc.health.
//
// Without -watch it makes one Check call and prints "check: <STATUS>". With -watch N it
// opens a Watch call and prints "watch: <STATUS>" for each of the first N messages, then
// exits 0. A failed call prints "error: code=<CODE> message=<details>" to stderr (CODE as
// grpc-go spells it, e.g. NotFound) and exits 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func fail(err error) {
	st := status.Convert(err)
	fmt.Fprintf(os.Stderr, "error: code=%s message=%s\n", st.Code(), st.Message())
	os.Exit(1)
}

func main() {
	target := flag.String("target", "localhost:50051", "server address (host:port)")
	service := flag.String("service", "", "service name (\"\" = the whole server)")
	watch := flag.Int("watch", 0, "watch, and exit after this many messages")
	timeout := flag.Duration("timeout", 5*time.Second, "deadline of the call")
	flag.Parse()

	conn, err := grpc.Dial(*target, grpc.WithInsecure())
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	request := &healthpb.HealthCheckRequest{Service: *service}

	if *watch <= 0 {
		reply, err := client.Check(ctx, request)
		if err != nil {
			fail(err)
		}
		fmt.Printf("check: %s\n", reply.GetStatus())
		return
	}
	stream, err := client.Watch(ctx, request)
	if err != nil {
		fail(err)
	}
	for i := 0; i < *watch; i++ {
		reply, err := stream.Recv()
		if err != nil {
			fail(err)
		}
		fmt.Printf("watch: %s\n", reply.GetStatus())
	}
}
