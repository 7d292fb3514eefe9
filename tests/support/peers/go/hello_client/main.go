// hello_client: the canonical HelloService client from grpc-go, used as an interop peer.
//
// It makes one SayHello call and prints "Greeting: <message>". When the call
// fails it prints "error: code=<CODE> message=<details>" to stderr (CODE is
// the upper-case gRPC name, e.g. UNAVAILABLE) and exits 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	pb "puregrpc/interop/hello"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var codeNames = map[codes.Code]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

func codeName(c codes.Code) string {
	if name, ok := codeNames[c]; ok {
		return name
	}
	return fmt.Sprintf("CODE_%d", uint32(c))
}

func main() {
	target := flag.String("target", "localhost:50051", "server address (host:port)")
	name := flag.String("name", "world", "name to greet")
	timeout := flag.Duration("timeout", time.Second, "deadline of the call")
	flag.Parse()
	if flag.NArg() > 0 {
		*name = flag.Arg(0)
	}

	conn, err := grpc.Dial(*target, grpc.WithInsecure())
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: code=%s message=%s\n", codeName(codes.Unavailable), err)
		os.Exit(1)
	}
	defer conn.Close()
	client := pb.NewHelloServiceClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	reply, err := client.SayHello(ctx, &pb.HelloRequest{Name: *name})
	if err != nil {
		st := status.Convert(err)
		fmt.Fprintf(os.Stderr, "error: code=%s message=%s\n", codeName(st.Code()), st.Message())
		conn.Close()
		cancel()
		os.Exit(1)
	}
	fmt.Printf("Greeting: %s\n", reply.GetMessage())
}
